// Package overlay is a Snapshotter that stacks layers with overlayfs.
package overlay

import (
	"errors"

	"github.com/berth-project/berth/internal/snapshot"
)

// NewOverlay returns an overlayfs snapshotter storing its data under root.
// It fails if overlayfs cannot be used on root's filesystem.
func NewOverlay(root string) (snapshot.Snapshotter, error) {
	return nil, errors.New("overlay snapshotter: not implemented yet")
}
