package archive

import (
	"context"
	"errors"
	"io"
	"time"
)

// DiffOptions tune Diff.
type DiffOptions struct {
	// SourceDateEpoch, when set, clamps every timestamp written to it.
	SourceDateEpoch *time.Time
	// UpperIsOverlay says upper is an overlay upper dir: whiteouts are 0/0
	// char devices and opaque dirs carry trusted.overlay.opaque=y.
	UpperIsOverlay bool
}

// Diff writes an uncompressed layer tar of the changes between lower (a
// directory, may be "") and upper to w.
func Diff(ctx context.Context, lower, upper string, w io.Writer, opts DiffOptions) error {
	return errors.New("archive.Diff: not implemented yet")
}

// Tar writes the whole tree under root as a tar to w, entries sorted and
// named relative to root.
func Tar(ctx context.Context, root string, w io.Writer) error {
	return errors.New("archive.Tar: not implemented yet")
}
