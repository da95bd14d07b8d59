package images

import (
	"context"
	"errors"
	"fmt"

	"github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/snapshot"
)

// The container filesystem operations (commit, changes, export) read a
// container's writable snapshot directly; they never mount over the
// container's own root filesystem mount.

func (s *Service) container(ref string) (*container.Container, error) {
	if s.containers == nil {
		return nil, errdefs.Unavailable(fmt.Errorf("containers are not available"))
	}
	return s.containers.Get(ref)
}

// ensureSnapshot makes the container's writable snapshot if it has none
// yet (a container that was created but never started), as Docker makes
// it at create time.
func (s *Service) ensureSnapshot(ctx context.Context, c *container.Container) error {
	key := snapshotKey(c.ID)
	if _, err := s.sn.Stat(ctx, key); err == nil {
		return nil
	} else if !errors.Is(err, snapshot.ErrNotFound) {
		return err
	}
	chain, err := s.store.Unpack(ctx, s.sn, c.ImageID)
	if err != nil {
		return fmt.Errorf("unpack %s: %w", c.ImageID, err)
	}
	if _, err := s.sn.Prepare(ctx, key, chain.String(), nil); err != nil && !errors.Is(err, snapshot.ErrAlreadyExists) {
		return fmt.Errorf("prepare rootfs: %w", err)
	}
	return nil
}

// layerDirs returns what the container changed: its writable snapshot's
// upper dir (overlay, with the lower dirs below it) or its full copy (with
// the parent's full copy to compare against).
type layerDirs struct {
	upper   string
	overlay bool
	lowers  []string // overlay: lower dirs, newest first
	lower   string   // native: the parent's tree
}

func (s *Service) layerDirs(ctx context.Context, c *container.Container) (layerDirs, error) {
	if err := s.ensureSnapshot(ctx, c); err != nil {
		return layerDirs{}, err
	}
	key := snapshotKey(c.ID)
	var l layerDirs
	var err error
	if l.upper, l.overlay, err = s.sn.UpperDir(ctx, key); err != nil {
		return l, err
	}
	if l.overlay {
		l.lowers, err = snapshot.LowerDirs(ctx, s.sn, key)
	} else {
		l.lower, err = snapshot.ParentDir(ctx, s.sn, key)
	}
	return l, err
}

// engineMade reports the paths of a container's layer that the engine and
// the runtime make, not the container: the mount points of the files the
// engine provides (/etc/hostname, /etc/hosts, /etc/resolv.conf) and /proc,
// /sys and /dev, which are mounted over while the container runs. They
// stay out of diff and commit, as Docker keeps them in an init layer.
func engineMade(rel string) bool {
	switch rel {
	case "etc/hostname", "etc/hosts", "etc/resolv.conf", ".dockerenv", "proc", "sys", "dev":
		return true
	}
	return false
}

// engineMadeDirs are the directories engineMade paths live in, which
// change only because of them when nothing else in them changed.
var engineMadeDirs = map[string]bool{"/etc": true}
