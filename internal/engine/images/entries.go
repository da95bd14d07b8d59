package images

import (
	"context"
	"sort"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-project/berth/internal/image"
)

// entry is one image as Docker shows it: an image ID (config digest)
// with every record naming it.
type entry struct {
	id      digest.Digest
	recs    []image.Image // tag, digest and dangling records of this ID
	r       image.Resolved
	tags    []string // RepoTags, familiar
	digests []string // RepoDigests, familiar
	created time.Time
}

// dangling reports whether the image has no tag (Docker's dangling=true;
// digest references do not count, so that image prune removes what was
// pulled by digest only).
func (e *entry) dangling() bool { return len(e.tags) == 0 }

// unnamed reports whether the image has neither tag nor digest reference.
func (e *entry) unnamed() bool { return len(e.tags) == 0 && len(e.digests) == 0 }

func (e *entry) parent() string { return e.r.Config.Parent }

// entries returns every image that resolves for this host, newest first.
// Records whose image does not resolve (another platform only, or
// incomplete) are left out, as Docker leaves them out of `images`.
func (s *Service) entries(ctx context.Context) ([]*entry, error) {
	recs, err := s.store.List(ctx)
	if err != nil {
		return nil, err
	}
	byID := map[digest.Digest]*entry{}
	var out []*entry
	for _, rec := range recs {
		r, err := image.Resolve(ctx, s.store.Content(), rec.Target, s.store.Platform())
		if err != nil {
			continue
		}
		e := byID[r.ID()]
		if e == nil {
			e = &entry{id: r.ID(), r: r}
			if r.Config.Created != nil {
				e.created = *r.Config.Created
			}
			byID[r.ID()] = e
			out = append(out, e)
		}
		e.recs = append(e.recs, rec)
	}
	for _, e := range out {
		e.tags, e.digests, _ = image.RepoNames(e.recs)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].created.After(out[j].created) })
	return out, nil
}

// children maps an image ID to the IDs whose config names it as parent.
func children(all []*entry) map[string][]string {
	out := map[string][]string{}
	for _, e := range all {
		if p := e.parent(); p != "" {
			out[p] = append(out[p], e.id.String())
		}
	}
	return out
}

// usedBy counts the containers per image ID.
func (s *Service) usedBy() map[string]int {
	out := map[string]int{}
	for _, c := range s.listContainers() {
		out[c.ImageID]++
	}
	return out
}

// find returns the entry of an image ID among all.
func find(all []*entry, id digest.Digest) *entry {
	for _, e := range all {
		if e.id == id {
			return e
		}
	}
	return nil
}

// labelsMatch reports whether labels satisfy Docker's label filters:
// "key" (present) or "key=value", all of them; negate for "label!".
func labelsMatch(labels map[string]string, filters []string, negate bool) bool {
	for _, f := range filters {
		k, v, hasValue := strings.Cut(f, "=")
		got, ok := labels[k]
		match := ok && (!hasValue || got == v)
		if match == negate {
			return false
		}
	}
	return true
}
