package images

import (
	"context"
	"errors"
	"fmt"
	"strings"

	eventtypes "github.com/moby/moby/api/types/events"
	imagetypes "github.com/moby/moby/api/types/image"
	digest "github.com/opencontainers/go-digest"

	"github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/content"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/image/reference"
	"github.com/berth-project/berth/internal/snapshot"
)

// RemoveOptions are the parameters of DELETE /images/{name}.
type RemoveOptions struct {
	Force   bool
	NoPrune bool // keep untagged parents
}

// Remove is DELETE /images/{name}, with Docker's rules: a name (tag or
// digest reference) is untagged — a tag together with the digest
// references of its repository when no other tag of that repository is
// left — and the image deleted when no other name keeps it; an ID deletes
// the image with its names if they are all of one repository with at most
// one tag.
// Containers that use the image keep it: a stopped one unless forced, a
// running one always (then only the name goes). The image's blobs and
// layers are freed when nothing else needs them.
func (s *Service) Remove(ctx context.Context, ref string, opts RemoveOptions) ([]imagetypes.DeleteResponse, error) {
	s.removeMu.Lock()
	defer s.removeMu.Unlock()
	img, r, err := s.lookup(ctx, ref)
	if err != nil {
		return nil, err
	}
	id := r.ID()
	d := &deleter{s: s, ctx: ctx, out: []imagetypes.DeleteResponse{}}
	if err := d.load(); err != nil {
		return nil, err
	}
	refs := d.refs(id)
	removedRef := false
	if !isImageIDPrefix(id.String(), ref) {
		if !opts.Force && isSingleReference(refs) {
			if c := d.firstContainer(id, func(*container.Container) bool { return true }); c != nil {
				return nil, errdefs.Conflictf("conflict: unable to remove repository reference %q (must force) - container %s is using its referenced image %s", ref, shortID(c.ID), shortID(id.String()))
			}
		}
		rec := img
		if img.Dangling() {
			// A target digest found the image: untag its first name.
			if len(refs) == 0 {
				return nil, noSuchImage(ref)
			}
			rec = refs[0]
		}
		names := untagWith(rec, refs)
		if len(names) == len(refs) {
			// The image outlives its last name when something keeps it.
			if err := d.keepDangling(id); err != nil {
				return nil, err
			}
		}
		for _, n := range names {
			if err := d.untag(id, n); err != nil {
				return nil, err
			}
		}
		if len(d.refs(id)) > 0 {
			return d.out, d.collect()
		}
		removedRef = true
	} else if isSingleReference(refs) {
		mask := conflictHard
		if !opts.Force {
			mask |= conflictStoppedContainer
		}
		if c := d.conflict(id, mask); c != nil {
			return nil, c
		}
		if err := d.keepDangling(id); err != nil {
			return nil, err
		}
		for _, r := range refs {
			if err := d.untag(id, r.Name); err != nil {
				return nil, err
			}
		}
	}
	if err := d.delete(id, opts.Force, !opts.NoPrune, removedRef); err != nil {
		return d.out, err
	}
	return d.out, d.collect()
}

// untagWith returns the names that removing rec takes away, as Docker:
// rec itself and, when rec is a tag and no other tag of its repository
// remains, the digest references of that repository.
func untagWith(rec image.Image, refs []image.Image) []string {
	names := []string{rec.Name}
	if !rec.Tagged() {
		return names
	}
	repo := repositoryOf(rec.Name)
	for _, r := range refs {
		if r.Tagged() && r.Name != rec.Name && repositoryOf(r.Name) == repo {
			return names
		}
	}
	for _, r := range refs {
		if r.Digested() && repositoryOf(r.Name) == repo {
			names = append(names, r.Name)
		}
	}
	return names
}

// isSingleReference reports whether refs are all of one repository with
// at most one tag (Docker's rule for removing an image by ID with its
// names, and for refusing to untag an image a container uses).
func isSingleReference(refs []image.Image) bool {
	if len(refs) <= 1 {
		return len(refs) == 1
	}
	tagged := false
	repos := map[string]bool{}
	for _, r := range refs {
		repos[repositoryOf(r.Name)] = true
		if r.Tagged() {
			if tagged {
				return false
			}
			tagged = true
		}
	}
	return len(repos) == 1
}

func repositoryOf(name string) string {
	n, err := reference.ParseNamed(name)
	if err != nil {
		return ""
	}
	return n.Name()
}

// isImageIDPrefix reports whether ref is (a prefix of) the image ID.
func isImageIDPrefix(id, ref string) bool {
	if strings.HasPrefix(id, ref) {
		return true
	}
	_, hex, _ := cutAlgorithm(id)
	return strings.HasPrefix(hex, ref)
}

type conflictKind int

const (
	conflictDependentChild conflictKind = 1 << iota
	conflictRunningContainer
	conflictActiveReference
	conflictStoppedContainer
	conflictHard = conflictDependentChild | conflictRunningContainer
	conflictSoft = conflictActiveReference | conflictStoppedContainer
)

// deleteConflict is Docker's image delete conflict.
type deleteConflict struct {
	hard bool
	used bool
	id   digest.Digest
	msg  string
}

func (c *deleteConflict) Error() string {
	force := "must be forced"
	if c.hard {
		force = "cannot be forced"
	}
	return fmt.Sprintf("conflict: unable to delete %s (%s) - %s", shortID(c.id.String()), force, c.msg)
}

func (c *deleteConflict) Unwrap() error { return errdefs.ErrConflict }

// deleter does one removal or prune: it tracks the records and what it
// reported.
type deleter struct {
	s    *Service
	ctx  context.Context
	all  []*entry
	kids map[string][]string
	out  []imagetypes.DeleteResponse
	// committed snapshot sizes before the deletion, for prune's report
	layerSizes map[string]int64
	freed      int64
}

func (d *deleter) load() error {
	all, err := d.s.entries(d.ctx)
	if err != nil {
		return err
	}
	d.all, d.kids = all, children(all)
	return nil
}

// refs returns the names of image id: its tag and digest records.
func (d *deleter) refs(id digest.Digest) []image.Image {
	recs, err := d.s.store.Names(d.ctx, id)
	if err != nil {
		return nil
	}
	var out []image.Image
	for _, r := range recs {
		if !r.Dangling() {
			out = append(out, r)
		}
	}
	return out
}

func (d *deleter) firstContainer(id digest.Digest, pred func(*container.Container) bool) *container.Container {
	for _, c := range d.s.listContainers() {
		if c.ImageID == id.String() && pred(c) {
			return c
		}
	}
	return nil
}

// conflict returns the first conflict of the kinds in mask.
func (d *deleter) conflict(id digest.Digest, mask conflictKind) *deleteConflict {
	if mask&conflictDependentChild != 0 && len(d.kids[id.String()]) > 0 {
		return &deleteConflict{hard: true, id: id, msg: "image has dependent child images"}
	}
	if mask&conflictRunningContainer != 0 {
		if c := d.firstContainer(id, func(c *container.Container) bool { return c.State.Running() }); c != nil {
			return &deleteConflict{hard: true, used: true, id: id, msg: "image is being used by running container " + shortID(c.ID)}
		}
	}
	if mask&conflictActiveReference != 0 && len(d.refs(id)) > 0 {
		return &deleteConflict{id: id, msg: "image is referenced in multiple repositories"}
	}
	if mask&conflictStoppedContainer != 0 {
		if c := d.firstContainer(id, func(c *container.Container) bool { return !c.State.Running() }); c != nil {
			return &deleteConflict{used: true, id: id, msg: "image is being used by stopped container " + shortID(c.ID)}
		}
	}
	return nil
}

// keepDangling gives the image a dangling record unless it has one.
func (d *deleter) keepDangling(id digest.Digest) error {
	recs, err := d.s.store.Names(d.ctx, id)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r.Dangling() {
			return nil
		}
	}
	if len(recs) == 0 {
		return nil
	}
	_, err = d.s.store.Put(d.ctx, image.Image{Name: image.DanglingPrefix + recs[0].Target.Digest.String(), Target: recs[0].Target, Labels: recs[0].Labels})
	return err
}

func (d *deleter) untag(id digest.Digest, name string) error {
	if err := d.s.store.Delete(d.ctx, name); err != nil && !errors.Is(err, image.ErrNotFound) {
		return err
	}
	d.out = append(d.out, imagetypes.DeleteResponse{Untagged: reference.Familiar(name)})
	d.s.emit(eventtypes.ActionUnTag, id.String(), reference.Familiar(name))
	return nil
}

// delete deletes image id and, with prune, its untagged parents, unless
// a conflict forbids it: then quiet drops the deletion silently unless the
// image is dangling and unused (Docker's imageDeleteHelper).
func (d *deleter) delete(id digest.Digest, force, prune, quiet bool) error {
	mask := conflictHard
	if !force {
		mask |= conflictSoft
	}
	if c := d.conflict(id, mask); c != nil {
		dangling := len(d.refs(id)) == 0 && len(d.kids[id.String()]) == 0
		if quiet && (!dangling || c.used) {
			return nil
		}
		return c
	}
	// Containers keep using a deleted image through their own snapshots,
	// whose parents are the image's layers: make those of containers that
	// were created but never started, so the layers stay.
	for _, c := range d.s.listContainers() {
		if c.ImageID == id.String() {
			if err := d.s.ensureSnapshot(d.ctx, c); err != nil {
				return fmt.Errorf("keep the layers of container %s: %w", shortID(c.ID), err)
			}
		}
	}
	e := find(d.all, id)
	recs, err := d.s.store.Names(d.ctx, id)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r.Dangling() {
			if err := d.s.store.Delete(d.ctx, r.Name); err != nil && !errors.Is(err, image.ErrNotFound) {
				return err
			}
			continue
		}
		if err := d.untag(id, r.Name); err != nil {
			return err
		}
	}
	d.out = append(d.out, imagetypes.DeleteResponse{Deleted: id.String()})
	d.s.emit(eventtypes.ActionDelete, id.String(), id.String())
	if e == nil {
		return nil
	}
	parent := e.parent()
	for p, kids := range d.kids {
		d.kids[p] = without(kids, id.String())
	}
	if !prune || parent == "" {
		return nil
	}
	return d.delete(digest.Digest(parent), false, true, true)
}

func without(list []string, s string) []string {
	var out []string
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// collect frees the blobs and layer snapshots no image needs any more,
// reporting removed layers as Docker does (Deleted: <chain ID>).
func (d *deleter) collect() error {
	if len(d.out) == 0 {
		return nil
	}
	deleted := false
	for _, o := range d.out {
		deleted = deleted || o.Deleted != ""
	}
	if !deleted {
		return nil
	}
	if d.layerSizes == nil {
		d.layerSizes = map[string]int64{}
		_ = d.s.sn.Walk(d.ctx, func(i snapshot.Info) error {
			if i.Kind == snapshot.KindCommitted {
				if u, err := d.s.sn.Usage(d.ctx, i.Name); err == nil {
					d.layerSizes[i.Name] = u.Size
				}
			}
			return nil
		})
	}
	removed, err := d.s.store.PruneSnapshots(d.ctx, d.s.sn)
	for _, name := range removed {
		d.out = append(d.out, imagetypes.DeleteResponse{Deleted: name})
		d.freed += d.layerSizes[name]
	}
	if err != nil {
		return err
	}
	gc, err := d.s.store.GarbageCollect(d.ctx, content.GCOptions{StaleIngest: -1})
	d.freed += gc.BytesFreed
	return err
}
