// Package native is a Snapshotter that makes every snapshot a full copy of
// its parent, for filesystems where overlayfs cannot be used.
package native

import (
	"errors"

	"github.com/berth-project/berth/internal/snapshot"
)

// NewNative returns a plain-copy snapshotter storing its data under root.
func NewNative(root string) (snapshot.Snapshotter, error) {
	return nil, errors.New("native snapshotter: not implemented yet")
}
