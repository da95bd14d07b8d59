package archive

import (
	"context"
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// ChangeKind is how a path changed, with the values of the Engine API's
// container.ChangeType.
type ChangeKind uint8

// The change kinds.
const (
	ChangeModify ChangeKind = 0
	ChangeAdd    ChangeKind = 1
	ChangeDelete ChangeKind = 2
)

// Change is one changed path (absolute, as `docker diff` shows it).
type Change struct {
	Kind ChangeKind
	Path string
}

// ChangesOptions tune Changes.
type ChangesOptions struct {
	// UpperIsOverlay says upper is an overlay upper dir (see DiffOptions).
	UpperIsOverlay bool
	// Lowers are the lower dirs of an overlay upper dir, newest first: a
	// path found in one of them was modified, otherwise added.
	Lowers []string
	// Exclude: see DiffOptions.
	Exclude func(rel string) bool
}

// Changes lists what Diff would write as changes, sorted by path: an
// entry that also exists below is a modification (this includes the
// directories above a change), one that does not an addition, a whiteout
// a deletion. lower is the tree below a plain upper dir ("" for none).
func Changes(ctx context.Context, lower, upper string, opts ChangesOptions) ([]Change, error) {
	src, err := openTree(upper)
	if err != nil {
		return nil, fmt.Errorf("changes: %w", err)
	}
	defer src.close()
	lowers := opts.Lowers
	if !opts.UpperIsOverlay {
		lowers = nil
		if lower != "" {
			lowers = []string{lower}
		}
	}
	c := &changeList{lowers: lowers}
	d := &differ{ctx: ctx, lower: lower, upper: upper, src: src, tw: c, emitted: map[string]bool{}, exclude: opts.Exclude}
	if err := d.walk(opts.UpperIsOverlay); err != nil {
		return nil, fmt.Errorf("changes: %w", err)
	}
	return c.changes, nil
}

// changeList is the entrySink of Changes.
type changeList struct {
	lowers  []string
	changes []Change
}

func (c *changeList) add(name string, _ *unix.Stat_t) error {
	kind := ChangeAdd
	for _, l := range c.lowers {
		if _, err := lstat(filepath.Join(l, name)); err == nil {
			kind = ChangeModify
			break
		}
	}
	c.changes = append(c.changes, Change{Kind: kind, Path: "/" + name})
	return nil
}

func (c *changeList) whiteout(name string, _ unix.Timespec) error {
	c.changes = append(c.changes, Change{Kind: ChangeDelete, Path: "/" + name})
	return nil
}

func (c *changeList) opaque(string, unix.Timespec) error { return nil }
