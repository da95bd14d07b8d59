package images

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/moby/api/types/build"
	containertypes "github.com/moby/moby/api/types/container"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/api/types/volume"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"

	"github.com/berth-project/berth/internal/content"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/snapshot"
)

// DiskUsageOptions selects what GET /system/df reports.
type DiskUsageOptions struct {
	Images, Containers, Volumes, BuildCache bool
}

// DiskUsage is GET /system/df, with every byte on disk counted. An
// image's size is what it holds on disk: its blobs in the content store
// (manifests, config, layers, uncompressed copies made for save) and its
// unpacked layer snapshots; what other images use too is its shared size.
// The images' total is the whole content store (unreferenced blobs and
// unfinished ingests included) plus every layer snapshot. A container's
// size is its writable layer plus its log files.
func (s *Service) DiskUsage(ctx context.Context, opts DiskUsageOptions) (system.DiskUsage, error) {
	var du system.DiskUsage
	var u *usage
	if opts.Images || opts.Containers {
		var err error
		if u, err = s.collectUsage(ctx); err != nil {
			return du, err
		}
	}
	if opts.Images {
		du.ImageUsage = u.images
	}
	if opts.Containers {
		du.ContainerUsage = u.containers
	}
	if opts.Volumes {
		vu := &volume.DiskUsage{Items: []volume.Volume{}}
		if s.volumes != nil {
			vols, err := s.volumes.Usage(ctx)
			if err != nil {
				return du, err
			}
			vu.Items = vols
		}
		for _, v := range vu.Items {
			vu.TotalCount++
			if v.UsageData == nil {
				continue
			}
			vu.TotalSize += v.UsageData.Size
			if v.UsageData.RefCount > 0 {
				vu.ActiveCount++
			} else {
				vu.Reclaimable += v.UsageData.Size
			}
		}
		du.VolumeUsage = vu
	}
	if opts.BuildCache {
		bu := &build.DiskUsage{Items: []build.CacheRecord{}}
		if s.buildCache != nil {
			recs, err := s.buildCache.DiskUsage(ctx)
			if err != nil {
				return du, err
			}
			bu.Items = recs
		}
		for _, r := range bu.Items {
			bu.TotalCount++
			if r.Shared {
				continue
			}
			bu.TotalSize += r.Size
			if r.InUse {
				bu.ActiveCount++
			} else {
				bu.Reclaimable += r.Size
			}
		}
		du.BuildCacheUsage = bu
	}
	return du, nil
}

type usage struct {
	images     *imagetypes.DiskUsage
	containers *containertypes.DiskUsage
}

// object is a blob ("blob:<digest>") or a committed snapshot ("snap:<name>").
type objectSet map[string]bool

func (s *Service) collectUsage(ctx context.Context) (*usage, error) {
	blobs := map[digest.Digest]content.Info{}
	if err := s.store.Content().Walk(ctx, func(i content.Info) error {
		blobs[i.Digest] = i
		return nil
	}); err != nil {
		return nil, err
	}
	cu, err := s.store.Content().Usage(ctx)
	if err != nil {
		return nil, err
	}
	committed := map[string]int64{}
	active := map[string]bool{}
	if err := s.sn.Walk(ctx, func(i snapshot.Info) error {
		switch i.Kind {
		case snapshot.KindCommitted:
			if u, err := s.sn.Usage(ctx, i.Name); err == nil {
				committed[i.Name] = u.Size
			}
		case snapshot.KindActive:
			active[i.Name] = true
		}
		return nil
	}); err != nil {
		return nil, err
	}
	size := func(obj string) int64 {
		if d, ok := strings.CutPrefix(obj, "blob:"); ok {
			return blobs[digest.Digest(d)].Size
		}
		return committed[strings.TrimPrefix(obj, "snap:")]
	}

	all, err := s.entries(ctx)
	if err != nil {
		return nil, err
	}
	used := s.usedBy()
	objs := make([]objectSet, len(all))
	refs := map[string]int{}
	for i, e := range all {
		objs[i] = s.imageObjects(ctx, e, blobs, committed)
		for o := range objs[i] {
			refs[o]++
		}
	}
	iu := &imagetypes.DiskUsage{Items: []imagetypes.Summary{}}
	iu.TotalSize = cu.BlobBytes + cu.IngestBytes
	for _, n := range committed {
		iu.TotalSize += n
	}
	inUse := objectSet{}
	for i, e := range all {
		sum := s.summary(ctx, e)
		sum.Size, sum.SharedSize = 0, 0
		for o := range objs[i] {
			sum.Size += size(o)
			if refs[o] > 1 {
				sum.SharedSize += size(o)
			}
		}
		sum.Containers = int64(used[e.id.String()])
		if sum.Containers > 0 {
			iu.ActiveCount++
			for o := range objs[i] {
				inUse[o] = true
			}
		}
		iu.TotalCount++
		iu.Items = append(iu.Items, sum)
	}
	iu.Reclaimable = iu.TotalSize
	for o := range inUse {
		iu.Reclaimable -= size(o)
	}

	imageSize := map[string]int64{}
	for _, it := range iu.Items {
		imageSize[it.ID] = it.Size
	}
	cdu := &containertypes.DiskUsage{Items: []containertypes.Summary{}}
	now := time.Now()
	for _, c := range s.listContainers() {
		var rw int64
		if key := snapshotKey(c.ID); active[key] {
			if u, err := s.sn.Usage(ctx, key); err == nil {
				rw = u.Size
			}
		}
		logFile, _ := c.LogFile()
		rw += logBytes(logFile)
		sum := containertypes.Summary{
			ID: c.ID, Names: []string{"/" + c.Name}, Image: c.Image, ImageID: c.ImageID,
			Command: strings.Join(append([]string{c.Path}, c.Args...), " "), Created: c.Created.Unix(),
			State: c.State.Status, Status: c.State.Describe(now), SizeRw: rw, SizeRootFs: rw + imageSize[c.ImageID],
			Ports: []containertypes.PortSummary{}, Mounts: c.Mounts,
		}
		if c.Config != nil {
			sum.Labels = c.Config.Labels
		}
		if sum.Mounts == nil {
			sum.Mounts = []containertypes.MountPoint{}
		}
		cdu.TotalCount++
		cdu.TotalSize += rw
		if c.State.Running() {
			cdu.ActiveCount++
		} else {
			cdu.Reclaimable += rw
		}
		cdu.Items = append(cdu.Items, sum)
	}
	return &usage{images: iu, containers: cdu}, nil
}

// imageObjects lists what an image holds on disk: the blobs reachable
// from its records (with the uncompressed copies of layers) and the
// snapshots of this host's layers.
func (s *Service) imageObjects(ctx context.Context, e *entry, blobs map[digest.Digest]content.Info, committed map[string]int64) objectSet {
	set := objectSet{}
	for _, rec := range e.recs {
		descs, _, err := image.Closure(ctx, s.store.Content(), rec.Target)
		if err != nil {
			continue
		}
		for _, d := range descs {
			set["blob:"+d.Digest.String()] = true
			if u := blobs[d.Digest].Labels[image.LabelUncompressed]; u != "" {
				if _, ok := blobs[digest.Digest(u)]; ok {
					set["blob:"+u] = true
				}
			}
		}
	}
	for _, c := range identity.ChainIDs(append([]digest.Digest(nil), e.r.Config.RootFS.DiffIDs...)) {
		if _, ok := committed[c.String()]; ok {
			set["snap:"+c.String()] = true
		}
	}
	return set
}

// sharedSizes returns, per image ID, the bytes of its layers (as Docker
// counts them) that other images have too.
func (s *Service) sharedSizes(ctx context.Context, all []*entry) map[string]int64 {
	refs := map[digest.Digest]int{}
	chains := make([][]digest.Digest, len(all))
	for i, e := range all {
		chains[i] = identity.ChainIDs(append([]digest.Digest(nil), e.r.Config.RootFS.DiffIDs...))
		for _, c := range chains[i] {
			refs[c]++
		}
	}
	out := map[string]int64{}
	for i, e := range all {
		var n int64
		for j, c := range chains[i] {
			if refs[c] > 1 && j < len(e.r.Manifest.Layers) {
				n += s.store.LayerSize(ctx, e.r.Manifest.Layers[j], e.r.Config.RootFS.DiffIDs[j])
			}
		}
		out[e.id.String()] = n
	}
	return out
}

// logBytes is the size of a container's log file and its rotations.
func logBytes(logPath string) int64 {
	if logPath == "" {
		return 0
	}
	matches, _ := filepath.Glob(logPath + "*")
	var n int64
	for _, m := range matches {
		if st, err := os.Lstat(m); err == nil && st.Mode().IsRegular() {
			n += st.Size()
		}
	}
	return n
}
