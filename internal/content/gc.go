package content

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	digest "github.com/opencontainers/go-digest"
)

// Lease keeps the garbage collector away while its holder writes blobs that
// nothing references yet (e.g. an image load before its record is stored).
// It is a shared lock on gc.lock, so it works across processes; the
// collector takes the lock exclusively and waits for all leases to end.
type Lease struct{ l *fileLock }

// Lease takes a lease; Release it when the new blobs are referenced.
func (s *Store) Lease(ctx context.Context) (*Lease, error) {
	l, err := lockFile(filepath.Join(s.root, "gc.lock"), false)
	if err != nil {
		return nil, fmt.Errorf("content lease: %w", err)
	}
	return &Lease{l: l}, nil
}

// Release ends the lease.
func (l *Lease) Release() error {
	if l == nil {
		return nil
	}
	return l.l.Unlock()
}

// GCOptions tunes GarbageCollect.
type GCOptions struct {
	// StaleIngest: ingests nobody holds and untouched for this long are
	// removed (0: 24h; negative: never).
	StaleIngest time.Duration
	// DryRun reports what would be removed without removing it.
	DryRun bool
	// Roots, if set, adds roots; it is called once the collector holds
	// the GC lock, so it sees everything stored under leases that ended.
	Roots func(ctx context.Context) ([]digest.Digest, error)
}

// GCResult lists what a collection removed.
type GCResult struct {
	Removed        []digest.Digest
	BytesFreed     int64
	IngestsRemoved int
}

// GarbageCollect deletes every blob not reachable from roots. Reachability
// follows index and manifest JSON (manifests, config, layers, blobs,
// subject) and berth.gc.ref.content.* labels; blobs labelled berth.gc.root
// are roots too. Missing roots are ignored. It waits for leases to end and
// holds off new ones while it runs.
func (s *Store) GarbageCollect(ctx context.Context, roots []digest.Digest, opts GCOptions) (GCResult, error) {
	var res GCResult
	l, err := lockFile(filepath.Join(s.root, "gc.lock"), true)
	if err != nil {
		return res, fmt.Errorf("garbage collect: %w", err)
	}
	defer l.Unlock()

	if opts.Roots != nil {
		more, err := opts.Roots(ctx)
		if err != nil {
			return res, fmt.Errorf("garbage collect: roots: %w", err)
		}
		roots = append(roots, more...)
	}
	all := map[digest.Digest]Info{}
	if err := s.Walk(ctx, func(i Info) error {
		all[i.Digest] = i
		if _, ok := i.Labels[LabelGCRoot]; ok {
			roots = append(roots, i.Digest)
		}
		return nil
	}); err != nil {
		return res, fmt.Errorf("garbage collect: %w", err)
	}

	marked := map[digest.Digest]bool{}
	queue := append([]digest.Digest(nil), roots...)
	for len(queue) > 0 {
		d := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		info, ok := all[d]
		if !ok || marked[d] {
			continue
		}
		marked[d] = true
		queue = append(queue, labelReferences(info.Labels)...)
		if info.Size > maxReferencingBlobLength {
			continue
		}
		b, err := s.ReadBlob(ctx, d)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				continue
			}
			return res, fmt.Errorf("garbage collect: %w", err)
		}
		queue = append(queue, References(b)...)
	}

	for d, info := range all {
		if marked[d] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if !opts.DryRun {
			if err := s.Delete(ctx, d); err != nil && !errors.Is(err, ErrNotFound) {
				return res, fmt.Errorf("garbage collect: %w", err)
			}
		}
		res.Removed = append(res.Removed, d)
		res.BytesFreed += info.Size
	}
	n, err := s.removeStaleIngests(opts)
	res.IngestsRemoved = n
	return res, err
}

func (s *Store) removeStaleIngests(opts GCOptions) (int, error) {
	maxAge := opts.StaleIngest
	if maxAge < 0 {
		return 0, nil
	}
	if maxAge == 0 {
		maxAge = 24 * time.Hour
	}
	entries, err := os.ReadDir(filepath.Join(s.root, "ingest"))
	if err != nil {
		return 0, fmt.Errorf("garbage collect ingests: %w", err)
	}
	n := 0
	for _, e := range entries {
		dir := filepath.Join(s.root, "ingest", e.Name())
		st, err := os.Stat(filepath.Join(dir, "data"))
		if err != nil || time.Since(st.ModTime()) < maxAge {
			continue
		}
		l, err := tryLockFile(filepath.Join(dir, "lock"))
		if err != nil {
			continue // held by a writer, or vanished
		}
		if !opts.DryRun {
			os.RemoveAll(dir)
		}
		l.Unlock()
		n++
	}
	return n, nil
}
