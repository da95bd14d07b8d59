package images

import (
	"context"
	"errors"
	"fmt"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/sys/mountinfo"

	engine "github.com/berth-project/berth/internal/engine/containers"
	"github.com/berth-project/berth/internal/mount"
	"github.com/berth-project/berth/internal/snapshot"
)

// The root filesystems of containers: an image is unpacked into layer
// snapshots on first use and each container gets an active snapshot on
// top, named by snapshotKey.

// snapshotKey names a container's writable snapshot.
func snapshotKey(containerID string) string { return "container-" + containerID }

// Resolve finds the image ref names for a new container.
func (s *Service) Resolve(ctx context.Context, ref string) (engine.Image, error) {
	_, r, err := s.lookup(ctx, ref)
	if err != nil {
		return engine.Image{}, err
	}
	out := engine.Image{ID: r.ID().String(), Ref: ref, Config: r.Config.Config.ImageConfig}
	if h := r.Config.Config.Healthcheck; h != nil {
		out.Healthcheck = &dockerspec.HealthcheckConfig{
			Test: h.Test, Interval: time.Duration(h.Interval), Timeout: time.Duration(h.Timeout),
			StartPeriod: time.Duration(h.StartPeriod), StartInterval: time.Duration(h.StartInterval), Retries: h.Retries,
		}
	}
	return out, nil
}

// Mount shows the container's root filesystem at target, making its
// writable snapshot (and unpacking the image) on first use.
func (s *Service) Mount(ctx context.Context, containerID, imageID, target string) error {
	if isMountpoint(target) {
		return nil
	}
	key := snapshotKey(containerID)
	mounts, err := s.sn.Mounts(ctx, key)
	if errors.Is(err, snapshot.ErrNotFound) {
		chain, uerr := s.store.Unpack(ctx, s.sn, imageID)
		if uerr != nil {
			return fmt.Errorf("unpack %s: %w", imageID, uerr)
		}
		mounts, err = s.sn.Prepare(ctx, key, chain.String(), nil)
	}
	if err != nil {
		return fmt.Errorf("prepare rootfs: %w", err)
	}
	return mount.All(mounts, target)
}

// Unmount undoes Mount; the writable snapshot stays.
func (s *Service) Unmount(_ context.Context, _ string, target string) error {
	return mount.UnmountAll(target)
}

// Release deletes the container's writable snapshot.
func (s *Service) Release(ctx context.Context, containerID string) error {
	if err := s.sn.Remove(ctx, snapshotKey(containerID)); err != nil && !errors.Is(err, snapshot.ErrNotFound) {
		return fmt.Errorf("remove rootfs snapshot: %w", err)
	}
	return nil
}

// isMountpoint reports whether something is mounted on path (also a bind
// mount from the same filesystem, as the native snapshotter makes).
func isMountpoint(path string) bool {
	ok, err := mountinfo.Mounted(path)
	return err == nil && ok
}
