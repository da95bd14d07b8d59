package image

import (
	"context"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/snapshot"
)

// RemoveStaleExtractions removes the temporary snapshots ("extract-*")
// that an unpack or load killed midway left behind, if they are older
// than minAge (so that a concurrent unpack in another process keeps its
// own). A daemon calls it at start. It returns how many it removed.
func RemoveStaleExtractions(ctx context.Context, sn snapshot.Snapshotter, minAge time.Duration) (int, error) {
	var stale []string
	err := sn.Walk(ctx, func(i snapshot.Info) error {
		if strings.HasPrefix(i.Name, "extract-") && i.Kind != snapshot.KindCommitted && time.Since(i.Created) >= minAge {
			stale = append(stale, i.Name)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range stale {
		if err := sn.Remove(ctx, k); err == nil {
			n++
		}
	}
	return n, nil
}
