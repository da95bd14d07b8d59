// Package image is berth's image store: image records (name -> target
// descriptor) on top of the content store, manifest and platform
// resolution, unpacking into snapshots, Docker-archive and OCI-layout
// load/save, import, inspect and history.
package image

import "github.com/berth-project/berth/internal/content"

// Error classes, shared with the content store so that errors.Is works
// across both layers.
var (
	ErrNotFound           = content.ErrNotFound
	ErrAlreadyExists      = content.ErrAlreadyExists
	ErrInvalidArgument    = content.ErrInvalidArgument
	ErrFailedPrecondition = content.ErrFailedPrecondition
)
