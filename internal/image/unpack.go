package image

import (
	"context"
	"errors"
	"fmt"
	"io"

	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/internal/archive"
	"github.com/berth-project/berth/internal/content"
	"github.com/berth-project/berth/internal/snapshot"
)

// LabelSnapshotDiffID is set on unpacked layer snapshots.
const LabelSnapshotDiffID = "berth.image.diffid"

// Unpack makes the committed snapshot of every layer of manifest m,
// named by its chain ID, and returns the top chain ID (the snapshot to
// Prepare a container's rootfs on). Layers whose snapshot exists are
// skipped. Each layer is applied into a temporary active snapshot,
// checked against the config's diff ID and committed; if another process
// committed the same chain ID meanwhile, its snapshot is used.
func Unpack(ctx context.Context, cs *content.Store, sn snapshot.Snapshotter, m ocispec.Manifest) (digest.Digest, error) {
	return unpack(ctx, cs, sn, m, nil)
}

func unpack(ctx context.Context, cs *content.Store, sn snapshot.Snapshotter, m ocispec.Manifest, early *earlyUnpacker) (digest.Digest, error) {
	cfg, _, err := ReadConfig(ctx, cs, m.Config)
	if err != nil {
		return "", fmt.Errorf("unpack: %w", err)
	}
	diffIDs := cfg.RootFS.DiffIDs
	if len(diffIDs) != len(m.Layers) {
		return "", fmt.Errorf("unpack: %d layers but %d diff IDs: %w", len(m.Layers), len(diffIDs), ErrInvalidArgument)
	}
	chains := identity.ChainIDs(append([]digest.Digest(nil), diffIDs...))
	parent := ""
	for i, layer := range m.Layers {
		chain := chains[i].String()
		if _, err := sn.Stat(ctx, chain); err != nil && errors.Is(err, snapshot.ErrNotFound) {
			adopted, err := early.adopt(ctx, layer.Digest, diffIDs[i], chain, parent)
			if err != nil {
				return "", fmt.Errorf("unpack layer %d (%s): %w", i, layer.Digest, err)
			}
			if adopted {
				parent = chain
				continue
			}
		}
		if err := unpackLayer(ctx, cs, sn, layer, diffIDs[i], chain, parent); err != nil {
			return "", fmt.Errorf("unpack layer %d (%s): %w", i, layer.Digest, err)
		}
		parent = chain
	}
	if len(chains) == 0 {
		return "", nil
	}
	return chains[len(chains)-1], nil
}

func unpackLayer(ctx context.Context, cs *content.Store, sn snapshot.Snapshotter, layer ocispec.Descriptor, diffID digest.Digest, chain, parent string) error {
	if info, err := sn.Stat(ctx, chain); err == nil {
		if info.Kind == snapshot.KindCommitted {
			return nil
		}
		return fmt.Errorf("snapshot %s exists but is %s: %w", chain, info.Kind, ErrFailedPrecondition)
	} else if !errors.Is(err, snapshot.ErrNotFound) {
		return err
	}
	return UnpackLayer(ctx, sn, chain, parent, diffID, func(dir string, overlay bool, parents []string) error {
		return applyLayer(ctx, cs, dir, overlay, parents, layer, diffID)
	})
}

// UnpackLayer prepares a snapshot on parent, lets apply write a layer
// into its upper dir (parents are the lower dirs on overlay, see
// archive.ApplyOptions) and commits it as chain with its diff ID. When a
// concurrent unpack committed chain first, that one is kept.
func UnpackLayer(ctx context.Context, sn snapshot.Snapshotter, chain, parent string, diffID digest.Digest, apply func(dir string, overlay bool, parents []string) error) error {
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
	dir, overlay, err := sn.UpperDir(ctx, key)
	if err != nil {
		return err
	}
	var parents []string
	if overlay {
		if parents, err = snapshot.LowerDirs(ctx, sn, key); err != nil {
			return err
		}
	}
	if err := apply(dir, overlay, parents); err != nil {
		return err
	}
	committed, err = CommitOn(ctx, sn, key, "", chain, nil, diffID)
	return err
}

// ApplyAlone prepares key, an overlay snapshot without parent, and
// applies the layer tar r into it, recording the directories the layer
// made without describing them (CommitOn fixes them once the layers below
// are known). noDigest skips hashing the tar (diffID is "" then). On an
// error the snapshot is removed.
func ApplyAlone(ctx context.Context, sn snapshot.Snapshotter, key string, r io.Reader, noDigest bool) (implicit []string, diffID digest.Digest, err error) {
	if _, err := sn.Prepare(ctx, key, "", nil); err != nil {
		return nil, "", fmt.Errorf("prepare: %w", err)
	}
	dir, overlay, err := sn.UpperDir(ctx, key)
	if err == nil && !overlay {
		err = fmt.Errorf("snapshotter is not overlay: %w", ErrFailedPrecondition)
	}
	if err == nil {
		_, diffID, err = archive.Apply(ctx, dir, r, archive.ApplyOptions{Overlay: true, ImplicitDirs: &implicit, NoDigest: noDigest})
	}
	if err != nil {
		sn.Remove(context.WithoutCancel(ctx), key)
		return nil, "", err
	}
	return implicit, diffID, nil
}

// CommitOn commits the active snapshot key as chain with its diff ID.
// A key made by ApplyAlone is first made a child of parent, its implicit
// directories given the metadata of the layers below. committed is false
// when a concurrent unpack committed chain first: key is then still the
// caller's to remove.
func CommitOn(ctx context.Context, sn snapshot.Snapshotter, key, parent, chain string, implicit []string, diffID digest.Digest) (committed bool, err error) {
	if parent != "" {
		if err := snapshot.Reparent(ctx, sn, key, parent); err != nil {
			return false, err
		}
		dir, _, err := sn.UpperDir(ctx, key)
		if err != nil {
			return false, err
		}
		lowers, err := snapshot.LowerDirs(ctx, sn, key)
		if err != nil {
			return false, err
		}
		if err := archive.FixImplicitDirs(dir, implicit, lowers); err != nil {
			return false, err
		}
	}
	err = sn.Commit(ctx, chain, key, map[string]string{LabelSnapshotDiffID: diffID.String()})
	if errors.Is(err, snapshot.ErrAlreadyExists) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("commit: %w", err)
	}
	return true, nil
}

// Unpack resolves ref (name or ID) for this host and unpacks it into sn,
// returning the top chain ID.
func (s *Store) Unpack(ctx context.Context, sn snapshot.Snapshotter, ref string) (digest.Digest, error) {
	img, err := s.Resolve(ctx, ref)
	if err != nil {
		return "", err
	}
	r, err := Resolve(ctx, s.cs, img.Target, s.platform)
	if err != nil {
		return "", fmt.Errorf("unpack %s: %w", ref, err)
	}
	return Unpack(ctx, s.cs, sn, r.Manifest)
}

// applyLayer decompresses a layer blob into dir and checks its diff ID;
// parents are the lower dirs on overlay (see archive.ApplyOptions).
func applyLayer(ctx context.Context, cs *content.Store, dir string, overlay bool, parents []string, layer ocispec.Descriptor, diffID digest.Digest) error {
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
	_, got, err := archive.Apply(ctx, dir, dec, archive.ApplyOptions{Overlay: overlay, Parents: parents})
	if err != nil {
		return err
	}
	if got != diffID {
		return fmt.Errorf("layer has diff ID %s, config says %s: %w", got, diffID, ErrFailedPrecondition)
	}
	return nil
}
