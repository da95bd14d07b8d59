package registry

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-project/berth/internal/content"
)

// GCOptions tunes GarbageCollect.
type GCOptions struct {
	// MinAge protects blobs linked and manifests pushed less than MinAge
	// ago, so that a push in progress (layers first, manifest last) does
	// not lose its layers. 0 protects nothing.
	MinAge time.Duration
	// DeleteUntagged also removes manifests that no tag reaches (directly
	// or through an index) and that are not referrers of a kept manifest.
	DeleteUntagged bool
	// StaleUploads: upload sessions untouched this long are removed
	// (0: 24h).
	StaleUploads time.Duration
	// DryRun reports without removing anything.
	DryRun bool
}

// GCResult tells what a collection removed (or would remove).
type GCResult struct {
	BlobsRemoved     int
	BytesFreed       int64
	ManifestsRemoved int
	LinksRemoved     int
	UploadsRemoved   int
}

// GarbageCollect removes the blobs of the registry at root that no
// manifest references. It may run while a server serves the same root:
// requests that link new content hold a lease, and the collection waits
// for them and holds new ones off while it marks and sweeps.
func GarbageCollect(ctx context.Context, root string, opts GCOptions) (GCResult, error) {
	var res GCResult
	cs, err := content.New(filepath.Join(root, "content"))
	if err != nil {
		return res, fmt.Errorf("registry gc: %w", err)
	}
	m, err := newMeta(filepath.Join(root, "repositories"))
	if err != nil {
		return res, err
	}
	up, err := newUploads(filepath.Join(root, "uploads"), cs)
	if err != nil {
		return res, err
	}
	if opts.StaleUploads == 0 {
		opts.StaleUploads = 24 * time.Hour
	}
	g := &collector{cs: cs, m: m, opts: opts, res: &res}
	cres, err := cs.GarbageCollect(ctx, nil, content.GCOptions{
		StaleIngest: opts.StaleUploads,
		DryRun:      opts.DryRun,
		Roots:       g.roots,
	})
	if err != nil {
		return res, fmt.Errorf("registry gc: %w", err)
	}
	res.BlobsRemoved = len(cres.Removed)
	res.BytesFreed = cres.BytesFreed
	if !opts.DryRun {
		res.UploadsRemoved = up.removeStale(opts.StaleUploads)
	}
	return res, nil
}

type collector struct {
	cs   *content.Store
	m    *meta
	opts GCOptions
	res  *GCResult
}

// roots runs with the store's GC lock held: it removes untagged manifests
// (if asked), returns every kept manifest and recent blob link as a root,
// and unlinks from each repository the blobs the sweep will delete.
func (g *collector) roots(ctx context.Context) ([]digest.Digest, error) {
	repos, err := g.m.repositories()
	if err != nil {
		return nil, err
	}
	var roots []digest.Digest
	for _, name := range repos {
		if g.opts.DeleteUntagged {
			if err := g.deleteUntagged(ctx, name); err != nil {
				return nil, err
			}
		}
		ms, err := g.m.manifests(name)
		if err != nil {
			return nil, err
		}
		roots = append(roots, ms...)
		links, err := g.m.blobs(name)
		if err != nil {
			return nil, err
		}
		for d, when := range links {
			if time.Since(when) < g.opts.MinAge {
				roots = append(roots, d)
			}
		}
	}
	marked := g.mark(ctx, roots)
	for _, name := range repos {
		links, err := g.m.blobs(name)
		if err != nil {
			return nil, err
		}
		for d := range links {
			if marked[d] {
				continue
			}
			g.res.LinksRemoved++
			if !g.opts.DryRun {
				g.m.unlinkBlob(name, d)
			}
		}
	}
	return roots, nil
}

// mark returns everything reachable from roots through manifests, as the
// content store's sweep computes it.
func (g *collector) mark(ctx context.Context, roots []digest.Digest) map[digest.Digest]bool {
	marked := map[digest.Digest]bool{}
	queue := append([]digest.Digest(nil), roots...)
	for len(queue) > 0 {
		d := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		if marked[d] {
			continue
		}
		marked[d] = true
		if info, err := g.cs.Info(ctx, d); err != nil || info.Size > 16<<20 {
			continue
		}
		if b, err := g.cs.ReadBlob(ctx, d); err == nil {
			queue = append(queue, content.References(b)...)
		}
	}
	return marked
}

// deleteUntagged removes the manifests of a repository that no tag
// reaches and that do not refer to a kept manifest.
func (g *collector) deleteUntagged(ctx context.Context, name string) error {
	unlock := g.m.lock(name)
	defer unlock()
	all, err := g.m.manifests(name)
	if err != nil {
		return err
	}
	kept := map[digest.Digest]bool{}
	var queue []digest.Digest
	tags, err := g.m.tags(name)
	if err != nil {
		return err
	}
	for _, t := range tags {
		if d, err := g.m.tag(name, t); err == nil {
			queue = append(queue, d)
		}
	}
	for _, d := range all {
		if st, ok := statTime(g.m.manifestLink(name, d)); ok && time.Since(st) < g.opts.MinAge {
			queue = append(queue, d)
		}
	}
	for {
		for len(queue) > 0 {
			d := queue[len(queue)-1]
			queue = queue[:len(queue)-1]
			if kept[d] || !g.m.hasManifest(name, d) {
				continue
			}
			kept[d] = true
			if b, err := g.cs.ReadBlob(ctx, d); err == nil {
				queue = append(queue, content.References(b)...)
			}
		}
		// Referrers of kept manifests are kept too.
		for _, d := range all {
			if kept[d] {
				continue
			}
			if link, err := g.m.manifest(name, d); err == nil && link.Subject != "" && kept[link.Subject] {
				queue = append(queue, d)
			}
		}
		if len(queue) == 0 {
			break
		}
	}
	for _, d := range all {
		if kept[d] {
			continue
		}
		g.res.ManifestsRemoved++
		if !g.opts.DryRun {
			if err := g.m.deleteManifest(name, d); err != nil {
				return err
			}
		}
	}
	return nil
}
