package archive

import (
	"context"
	"errors"
	"io"

	"github.com/opencontainers/go-digest"
)

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// Overlay: whiteouts become overlay whiteouts (0/0 char devices) and
	// opaque dirs get the trusted.overlay.opaque=y xattr, for an upper dir
	// that overlayfs will stack. When false (plain-copy snapshots)
	// whiteouts delete the lower files from root directly.
	Overlay bool
}

// Apply extracts an uncompressed layer tar into root (a directory) and
// returns the number of bytes of tar read and the digest of the stream
// (the layer's DiffID).
func Apply(ctx context.Context, root string, r io.Reader, opts ApplyOptions) (size int64, diffID digest.Digest, err error) {
	return 0, "", errors.New("archive.Apply: not implemented yet")
}
