package images

import (
	"context"
	"fmt"
	"io"

	eventtypes "github.com/moby/moby/api/types/events"

	"github.com/berth-project/berth/internal/archive"
	"github.com/berth-project/berth/internal/mount"
	"github.com/berth-project/berth/internal/snapshot"
)

// Export is GET /containers/{id}/export: the container's root filesystem
// (without its volumes) as a tar. It is read through a read-only mount of
// the container's snapshot that is attached nowhere (so nothing is left
// mounted if the daemon dies) and through a reader that never follows a
// symlink, even one the running container swaps in meanwhile.
func (s *Service) Export(ctx context.Context, ref string, w io.Writer) error {
	c, err := s.container(ref)
	if err != nil {
		return err
	}
	if err := s.ensureSnapshot(ctx, c); err != nil {
		return err
	}
	mounts, err := snapshot.ReadOnlyMounts(ctx, s.sn, snapshotKey(c.ID))
	if err != nil {
		return err
	}
	if len(mounts) != 1 {
		return fmt.Errorf("export %s: %d mounts for its root filesystem, want 1", c.ID, len(mounts))
	}
	root, err := mount.Detached(mounts[0])
	if err != nil {
		return fmt.Errorf("export %s: %w", c.ID, err)
	}
	defer root.Close()
	if err := archive.Tar(ctx, fmt.Sprintf("/proc/self/fd/%d", root.Fd()), w); err != nil {
		return fmt.Errorf("export %s: %w", c.ID, err)
	}
	if s.events != nil {
		s.events.Publish(eventtypes.ContainerEventType, eventtypes.ActionExport, c.ID, map[string]string{"name": c.Name, "image": c.Image})
	}
	return nil
}
