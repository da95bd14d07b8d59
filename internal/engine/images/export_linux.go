package images

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	eventtypes "github.com/moby/moby/api/types/events"

	"github.com/berth-project/berth/internal/archive"
	"github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/mount"
	"github.com/berth-project/berth/internal/snapshot"
)

// Export is GET /containers/{id}/export: the container's root filesystem
// (without its volumes) as a tar. It is read through a read-only mount
// that is attached nowhere (so nothing is left mounted if the daemon
// dies) and through a reader that never follows a symlink, even one the
// running container swaps in meanwhile.
func (s *Service) Export(ctx context.Context, ref string, w io.Writer) error {
	c, err := s.container(ref)
	if err != nil {
		return err
	}
	root, err := s.rootfsCopy(ctx, c)
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

// rootfsCopy returns a read-only, detached mount of the container's root
// filesystem: a clone of its mounted root while it runs (the same
// overlay), else a new overlay of its snapshot.
func (s *Service) rootfsCopy(ctx context.Context, c *container.Container) (*os.File, error) {
	if live := filepath.Join(c.Dir, "rootfs"); isMountpoint(live) {
		f, err := mount.Detached(mount.Mount{Type: "bind", Source: live, Options: []string{"bind", "ro"}})
		var st unix.Statfs_t
		if err == nil && unix.Fstatfs(int(f.Fd()), &st) == nil && st.Type == unix.OVERLAYFS_SUPER_MAGIC {
			return f, nil
		}
		if err == nil {
			f.Close() // the container stopped meanwhile: its snapshot then
		}
	}
	if err := s.ensureSnapshot(ctx, c); err != nil {
		return nil, err
	}
	mounts, err := snapshot.ReadOnlyMounts(ctx, s.sn, snapshotKey(c.ID))
	if err != nil {
		return nil, err
	}
	if len(mounts) != 1 {
		return nil, fmt.Errorf("%d mounts for its root filesystem, want 1", len(mounts))
	}
	return mount.Detached(mounts[0])
}
