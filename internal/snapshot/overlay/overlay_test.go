package overlay

import (
	"testing"

	"github.com/berth-project/berth/internal/snapshot"
	"github.com/berth-project/berth/internal/snapshot/testsuite"
)

func newTestSnapshotter(t *testing.T, root string) snapshot.Snapshotter {
	s, err := NewOverlay(root)
	if err != nil {
		t.Fatalf("NewOverlay: %v", err)
	}
	return s
}

func TestOverlay(t *testing.T) {
	testsuite.Run(t, newTestSnapshotter)
}
