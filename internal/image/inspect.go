package image

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/berth-project/berth/internal/image/reference"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// RootFS is the layer list of InspectInfo.
type RootFS struct {
	Type   string
	Layers []string `json:",omitempty"`
}

// InspectMetadata is Docker's Metadata of an image.
type InspectMetadata struct {
	LastTagTime string `json:",omitempty"`
}

// InspectInfo has the shape of Docker's `image inspect` JSON.
type InspectInfo struct {
	ID            string `json:"Id"`
	RepoTags      []string
	RepoDigests   []string
	Parent        string
	Comment       string
	Created       string `json:",omitempty"`
	DockerVersion string
	Author        string
	Config        *RunConfig
	Architecture  string
	Variant       string `json:",omitempty"`
	Os            string
	OsVersion     string `json:",omitempty"`
	Size          int64
	RootFS        RootFS
	Metadata      InspectMetadata
	Descriptor    *ocispec.Descriptor `json:",omitempty"`
}

// Summary is one line of `docker images` (the Engine API's ImageSummary).
type Summary struct {
	ID          string `json:"Id"`
	ParentID    string `json:"ParentId"`
	RepoTags    []string
	RepoDigests []string
	Created     int64
	Size        int64
	Labels      map[string]string
	Containers  int64
	Dangling    bool `json:"-"`
}

// HistoryItem is one entry of `docker history` (newest first).
type HistoryItem struct {
	ID        string `json:"Id"`
	Created   int64
	CreatedBy string
	Tags      []string
	Size      int64
	Comment   string
}

// RepoNames returns RepoTags (the tag records) and RepoDigests (the
// digest references) among recs, in familiar form, and the newest tag
// time (zero when no tag, build, import or commit named the image).
func RepoNames(recs []Image) (tags, digests []string, lastTag time.Time) {
	tags, digests = []string{}, []string{}
	for _, r := range recs {
		switch {
		case r.Tagged():
			tags = append(tags, reference.Familiar(r.Name))
			if r.TagTime.After(lastTag) {
				lastTag = r.TagTime
			}
		case r.Digested():
			if d := reference.Familiar(r.Name); !slices.Contains(digests, d) {
				digests = append(digests, d)
			}
		}
	}
	sort.Strings(tags)
	sort.Strings(digests)
	return tags, digests, lastTag
}

// LayerSize is a layer's size as Docker reports it: uncompressed when the
// uncompressed copy is known, the stored size otherwise.
func (s *Store) LayerSize(ctx context.Context, l ocispec.Descriptor, diffID digest.Digest) int64 {
	if IsCompressedLayer(l.MediaType) {
		if info, err := s.cs.Info(ctx, diffID); err == nil {
			return info.Size
		}
	}
	return l.Size
}

// Size is the size of an image as Docker reports it: the sum of its
// layers, uncompressed where the uncompressed size is known.
func (s *Store) Size(ctx context.Context, r Resolved) int64 {
	var size int64
	for i, l := range r.Manifest.Layers {
		var diffID digest.Digest
		if i < len(r.Config.RootFS.DiffIDs) {
			diffID = r.Config.RootFS.DiffIDs[i]
		}
		size += s.LayerSize(ctx, l, diffID)
	}
	return size
}

// Inspect returns Docker's inspect data for ref (name or ID).
func (s *Store) Inspect(ctx context.Context, ref string) (InspectInfo, error) {
	img, err := s.Resolve(ctx, ref)
	if err != nil {
		return InspectInfo{}, err
	}
	r, err := Resolve(ctx, s.cs, img.Target, s.platform)
	if err != nil {
		return InspectInfo{}, fmt.Errorf("inspect %s: %w", ref, err)
	}
	recs, err := s.Names(ctx, r.ID())
	if err != nil {
		return InspectInfo{}, err
	}
	tags, digests, lastTag := RepoNames(recs)
	info := InspectInfo{
		ID: r.ID().String(), RepoTags: tags, RepoDigests: digests,
		Parent: r.Config.Parent, Comment: r.Config.Comment, DockerVersion: r.Config.DockerVersion,
		Author: r.Config.Author, Architecture: r.Config.Architecture, Variant: r.Config.Variant,
		Os: r.Config.OS, OsVersion: r.Config.OSVersion, Size: s.Size(ctx, r),
		RootFS: RootFS{Type: r.Config.RootFS.Type}, Descriptor: &img.Target,
	}
	if r.Config.Created != nil {
		info.Created = r.Config.Created.UTC().Format(time.RFC3339Nano)
	}
	cfg := r.Config.Config
	info.Config = &cfg
	for _, d := range r.Config.RootFS.DiffIDs {
		info.RootFS.Layers = append(info.RootFS.Layers, d.String())
	}
	if !lastTag.IsZero() {
		info.Metadata.LastTagTime = lastTag.UTC().Format(time.RFC3339Nano)
	}
	return info, nil
}

// Summaries lists images, one per image ID, as `docker images` shows them.
func (s *Store) Summaries(ctx context.Context) ([]Summary, error) {
	all, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	byID := map[digest.Digest][]Image{}
	resolved := map[digest.Digest]Resolved{}
	var order []digest.Digest
	for _, img := range all {
		r, err := Resolve(ctx, s.cs, img.Target, s.platform)
		if err != nil {
			continue // not runnable here or incomplete: not listed
		}
		id := r.ID()
		if _, ok := byID[id]; !ok {
			order = append(order, id)
			resolved[id] = r
		}
		byID[id] = append(byID[id], img)
	}
	var out []Summary
	for _, id := range order {
		r := resolved[id]
		tags, digests, _ := RepoNames(byID[id])
		sum := Summary{ID: id.String(), ParentID: r.Config.Parent, RepoTags: tags, RepoDigests: digests,
			Size: s.Size(ctx, r), Labels: r.Config.Config.Labels, Containers: -1, Dangling: len(tags) == 0}
		if r.Config.Created != nil {
			sum.Created = r.Config.Created.Unix()
		}
		out = append(out, sum)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created > out[j].Created })
	return out, nil
}

// History returns the image's history, newest first, as `docker history`.
func (s *Store) History(ctx context.Context, ref string) ([]HistoryItem, error) {
	img, err := s.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	r, err := Resolve(ctx, s.cs, img.Target, s.platform)
	if err != nil {
		return nil, fmt.Errorf("history %s: %w", ref, err)
	}
	recs, err := s.Names(ctx, r.ID())
	if err != nil {
		return nil, err
	}
	tags, _, _ := RepoNames(recs)
	var items []HistoryItem
	layer := 0
	for _, h := range r.Config.History {
		it := HistoryItem{ID: "<missing>", CreatedBy: h.CreatedBy, Comment: h.Comment, Tags: nil}
		if h.Created != nil {
			it.Created = h.Created.Unix()
		}
		if !h.EmptyLayer && layer < len(r.Manifest.Layers) {
			var diffID digest.Digest
			if layer < len(r.Config.RootFS.DiffIDs) {
				diffID = r.Config.RootFS.DiffIDs[layer]
			}
			it.Size = s.LayerSize(ctx, r.Manifest.Layers[layer], diffID)
			layer++
		}
		items = append(items, it)
	}
	if len(items) == 0 {
		items = append(items, HistoryItem{})
	}
	for i, j := 0, len(items)-1; i < j; i, j = i+1, j-1 {
		items[i], items[j] = items[j], items[i]
	}
	items[0].ID = r.ID().String()
	items[0].Tags = tags
	return items, nil
}
