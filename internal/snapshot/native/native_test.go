package native

import (
	"testing"

	"github.com/berth-project/berth/internal/snapshot"
	"github.com/berth-project/berth/internal/snapshot/testsuite"
)

func newTestSnapshotter(t *testing.T, root string) snapshot.Snapshotter {
	s, err := NewNative(root)
	if err != nil {
		t.Fatalf("NewNative: %v", err)
	}
	return s
}

func TestNative(t *testing.T) {
	testsuite.Run(t, newTestSnapshotter)
}
