package image

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/berth-project/berth/internal/archive"
	"github.com/berth-project/berth/internal/content"
	"github.com/berth-project/berth/internal/snapshot"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// extraction is one layer applied ahead of its parent into a parentless
// scratch snapshot. On overlay an upper dir holds only its own layer, so
// the result does not depend on the parent and can be moved into the
// properly parented snapshot later.
type extraction struct {
	done    chan struct{}
	key     string // scratch snapshot
	dir     string // its upper dir
	overlay bool
	err     error
}

// unpackParallel applies layers[from:] concurrently (bounded by the CPU
// count) and commits them in order. It reports ok=false, having changed
// nothing, when the snapshotter is not overlay-like, so the caller falls
// back to one layer at a time.
func unpackParallel(ctx context.Context, cs *content.Store, sn snapshot.Snapshotter, layers []ocispec.Descriptor, diffIDs, chains []digest.Digest, from int) (bool, error) {
	// Probe: a parentless scratch snapshot must be an overlay upper dir.
	probeKey := "extract-probe-" + content.RandomID()
	if _, err := sn.Prepare(ctx, probeKey, "", nil); err != nil {
		return false, nil
	}
	_, overlay, err := sn.UpperDir(ctx, probeKey)
	sn.Remove(context.WithoutCancel(ctx), probeKey)
	if err != nil || !overlay {
		return false, nil
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	exts := make([]*extraction, len(layers))
	sem := make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))
	var wg sync.WaitGroup
	for i := from + 1; i < len(layers); i++ {
		e := &extraction{done: make(chan struct{}), key: "extract-" + content.RandomID() + "-scratch"}
		exts[i] = e
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(e.done)
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				e.err = ctx.Err()
				return
			}
			defer func() { <-sem }()
			if _, err := sn.Prepare(ctx, e.key, "", nil); err != nil {
				e.err = err
				e.key = ""
				return
			}
			e.dir, e.overlay, e.err = sn.UpperDir(ctx, e.key)
			if e.err == nil && !e.overlay {
				e.err = fmt.Errorf("scratch snapshot is not an overlay upper dir: %w", ErrFailedPrecondition)
			}
			if e.err == nil {
				e.err = applyLayer(ctx, cs, e.dir, true, layers[i], diffIDs[i])
			}
		}()
	}
	defer func() {
		cancel()
		wg.Wait()
		for _, e := range exts {
			if e != nil && e.key != "" {
				sn.Remove(context.WithoutCancel(ctx), e.key)
			}
		}
	}()

	parent := ""
	if from > 0 {
		parent = chains[from-1].String()
	}
	// The first missing layer has its parent committed: apply it in place
	// while the others extract.
	if err := unpackLayer(ctx, cs, sn, layers[from], diffIDs[from], chains[from].String(), parent); err != nil {
		return true, fmt.Errorf("unpack layer %d (%s): %w", from, layers[from].Digest, err)
	}
	for i := from + 1; i < len(layers); i++ {
		e := exts[i]
		<-e.done
		if e.err != nil {
			return true, fmt.Errorf("unpack layer %d (%s): %w", i, layers[i].Digest, e.err)
		}
		if err := commitMoved(ctx, sn, e.dir, chains[i].String(), chains[i-1].String()); err != nil {
			return true, fmt.Errorf("unpack layer %d (%s): %w", i, layers[i].Digest, err)
		}
	}
	return true, nil
}

// applyLayer decompresses a layer blob into dir and checks its diff ID.
func applyLayer(ctx context.Context, cs *content.Store, dir string, overlay bool, layer ocispec.Descriptor, diffID digest.Digest) error {
	rc, err := cs.Open(ctx, layer.Digest)
	if err != nil {
		return err
	}
	defer rc.Close()
	dec, err := archive.Decompress(rc)
	if err != nil {
		return err
	}
	defer dec.Close()
	_, got, err := archive.Apply(ctx, dir, dec, archive.ApplyOptions{Overlay: overlay})
	if err != nil {
		return err
	}
	if got != diffID {
		return fmt.Errorf("layer has diff ID %s, config says %s: %w", got, diffID, ErrFailedPrecondition)
	}
	return nil
}

// commitMoved makes the committed snapshot chain on parent from the
// layer extracted into scratch, by moving scratch's entries into a fresh
// active snapshot's upper dir.
func commitMoved(ctx context.Context, sn snapshot.Snapshotter, scratch, chain, parent string) error {
	if info, err := sn.Stat(ctx, chain); err == nil && info.Kind == snapshot.KindCommitted {
		return nil
	}
	key := "extract-" + content.RandomID() + "-" + chain
	if _, err := sn.Prepare(ctx, key, parent, nil); err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			sn.Remove(context.WithoutCancel(ctx), key)
		}
	}()
	upper, overlay, err := sn.UpperDir(ctx, key)
	if err != nil {
		return err
	}
	if !overlay {
		return fmt.Errorf("snapshot %s is not an overlay upper dir: %w", key, ErrFailedPrecondition)
	}
	if err := moveTree(scratch, upper); err != nil {
		return err
	}
	err = sn.Commit(ctx, chain, key, nil)
	if errors.Is(err, snapshot.ErrAlreadyExists) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	committed = true
	return nil
}

// moveTree renames every entry of src into dst (same filesystem) and
// gives dst src's owner, mode, xattrs and times.
func moveTree(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.Rename(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return fmt.Errorf("move extracted layer: %w", err)
		}
	}
	var st unix.Stat_t
	if err := unix.Lstat(src, &st); err != nil {
		return err
	}
	if err := os.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	if err := os.Chmod(dst, os.FileMode(st.Mode&0o7777)); err != nil {
		return err
	}
	if err := copyXattrs(src, dst); err != nil {
		return err
	}
	ts := []unix.Timespec{st.Atim, st.Mtim}
	return unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW)
}

func copyXattrs(src, dst string) error {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(src, buf)
	if err != nil {
		if errors.Is(err, unix.ENOTSUP) {
			return nil
		}
		return err
	}
	val := make([]byte, 64<<10)
	for _, name := range splitNul(buf[:n]) {
		m, err := unix.Lgetxattr(src, name, val)
		if err != nil {
			continue
		}
		if err := unix.Lsetxattr(dst, name, val[:m], 0); err != nil {
			return fmt.Errorf("copy xattr %s: %w", name, err)
		}
	}
	return nil
}

func splitNul(b []byte) []string {
	var out []string
	start := 0
	for i, c := range b {
		if c == 0 {
			if i > start {
				out = append(out, string(b[start:i]))
			}
			start = i + 1
		}
	}
	return out
}
