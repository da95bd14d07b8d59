package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	buildtypes "github.com/moby/moby/api/types/build"
	digest "github.com/opencontainers/go-digest"

	"github.com/berth-project/berth/internal/content"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/snapshot"
)

// Held implements image.Holder: the layers of cache records stay in the
// content store and the snapshotter until the cache is pruned.
func (svc *Service) Held(ctx context.Context) ([]digest.Digest, []string, error) {
	recs, err := svc.cache.all()
	if err != nil {
		return nil, nil, err
	}
	var blobs []digest.Digest
	var snaps []string
	for _, r := range recs {
		if r.Layer != nil {
			blobs = append(blobs, r.Layer.Blob.Digest)
			snaps = append(snaps, r.Layer.Chain.String())
		}
	}
	return blobs, snaps, nil
}

// PruneOptions select what Prune removes.
type PruneOptions struct {
	All bool // every record, also those whose layers tagged images use
	// Until keeps records used more recently than this long ago.
	Until time.Duration
	// KeepStorage keeps the most recently used records within this many
	// bytes.
	KeepStorage int64
}

// Prune removes build cache records, the cache mounts, and then the
// layers (blobs and snapshots) nothing needs any more.
func (svc *Service) Prune(ctx context.Context, o PruneOptions) (buildtypes.CachePruneReport, error) {
	rep := buildtypes.CachePruneReport{CachesDeleted: []string{}}
	svc.cache.mu.Lock()
	defer svc.cache.mu.Unlock()
	recs, err := svc.cache.all()
	if err != nil {
		return rep, err
	}
	inImages := svc.imageLayers(ctx)
	sort.Slice(recs, func(i, j int) bool { return recs[i].LastUsed.After(recs[j].LastUsed) })
	var kept int64
	now := time.Now()
	for _, r := range recs {
		size := int64(0)
		if r.Layer != nil {
			size = r.Layer.Blob.Size
		}
		shared := r.Layer != nil && inImages[r.Layer.DiffID]
		keep := false
		switch {
		case o.Until > 0 && now.Sub(r.LastUsed) < o.Until:
			keep = true
		case shared && !o.All:
			keep = true
		case o.KeepStorage > 0 && kept+size <= o.KeepStorage:
			keep = true
			kept += size
		}
		if keep {
			continue
		}
		if err := svc.cache.remove(r.Key); err != nil {
			return rep, err
		}
		rep.CachesDeleted = append(rep.CachesDeleted, r.Key.Encoded())
	}
	// Cache mounts go too (nothing records their use).
	mounts := filepath.Join(svc.cfg.Root, "mounts")
	if entries, err := os.ReadDir(mounts); err == nil {
		for _, e := range entries {
			p := filepath.Join(mounts, e.Name())
			size, _ := dirSize(p)
			if err := os.RemoveAll(p); err == nil {
				rep.SpaceReclaimed += uint64(size)
				rep.CachesDeleted = append(rep.CachesDeleted, "mount:"+e.Name())
			}
		}
	}
	before := svc.snapshotUsage(ctx)
	if _, err := svc.cfg.Store.PruneSnapshots(ctx, svc.cfg.Snapshotter); err != nil {
		return rep, fmt.Errorf("prune build snapshots: %w", err)
	}
	after := svc.snapshotUsage(ctx)
	if before > after {
		rep.SpaceReclaimed += uint64(before - after)
	}
	gc, err := svc.cfg.Store.GarbageCollect(ctx, content.GCOptions{StaleIngest: -1})
	if err != nil {
		return rep, fmt.Errorf("prune build blobs: %w", err)
	}
	rep.SpaceReclaimed += uint64(gc.BytesFreed)
	return rep, nil
}

// imageLayers returns the diff IDs of every image's layers.
func (svc *Service) imageLayers(ctx context.Context) map[digest.Digest]bool {
	out := map[digest.Digest]bool{}
	recs, err := svc.cfg.Store.List(ctx)
	if err != nil {
		return out
	}
	for _, r := range recs {
		res, err := image.Resolve(ctx, svc.cfg.Store.Content(), r.Target, svc.cfg.Store.Platform())
		if err != nil {
			continue
		}
		for _, d := range res.Config.RootFS.DiffIDs {
			out[d] = true
		}
	}
	return out
}

func (svc *Service) snapshotUsage(ctx context.Context) int64 {
	var total int64
	_ = svc.cfg.Snapshotter.Walk(ctx, func(i snapshot.Info) error {
		if u, err := svc.cfg.Snapshotter.Usage(ctx, i.Name); err == nil {
			total += u.Size
		}
		return nil
	})
	return total
}

func dirSize(p string) (int64, error) {
	var n int64
	err := filepath.Walk(p, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n, err
}

// DiskUsage lists the build cache for system df.
func (svc *Service) DiskUsage(ctx context.Context) ([]buildtypes.CacheRecord, error) {
	recs, err := svc.cache.all()
	if err != nil {
		return nil, err
	}
	inImages := svc.imageLayers(ctx)
	out := []buildtypes.CacheRecord{}
	for _, r := range recs {
		if r.Layer == nil {
			continue // a config-only step: bookkeeping, no data
		}
		cr := buildtypes.CacheRecord{ID: r.Key.Encoded()[:25], Type: "regular", Description: r.Instruction,
			CreatedAt: r.Created, UsageCount: r.Uses}
		lu := r.LastUsed
		cr.LastUsedAt = &lu
		cr.Size = r.Layer.Blob.Size
		cr.Shared = inImages[r.Layer.DiffID]
		out = append(out, cr)
	}
	mounts := filepath.Join(svc.cfg.Root, "mounts")
	if entries, err := os.ReadDir(mounts); err == nil {
		for _, e := range entries {
			size, _ := dirSize(filepath.Join(mounts, e.Name()))
			info, _ := e.Info()
			cr := buildtypes.CacheRecord{ID: e.Name(), Type: "exec.cachemount", Description: "cache mount", Size: size}
			if info != nil {
				cr.CreatedAt = info.ModTime()
			}
			out = append(out, cr)
		}
	}
	return out, nil
}
