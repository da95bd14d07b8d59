package containers

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/archive"
	crec "github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/errdefs"
)

// withRoot calls fn with a host path that shows the container's
// filesystem: /proc/<pid>/root while it runs (volumes and binds included),
// else its root filesystem mounted for the call.
func (s *Service) withRoot(ctx context.Context, ref string, fn func(root string) error) error {
	c, unlock, err := s.getLocked(ref)
	if err != nil {
		return err
	}
	defer unlock()
	if c.State.Running() && c.State.Pid > 0 {
		return fn(fmt.Sprintf("/proc/%d/root", c.State.Pid))
	}
	return s.withStoppedRoot(ctx, c, fn)
}

func (s *Service) withStoppedRoot(ctx context.Context, c *crec.Container, fn func(root string) error) error {
	rootfs := filepath.Join(c.Dir, "rootfs")
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		return err
	}
	if err := s.images.Mount(ctx, c.ID, c.ImageID, rootfs); err != nil {
		return err
	}
	defer s.images.Unmount(ctx, c.ID, rootfs)
	return fn(rootfs)
}

// resolve finds p inside root; the last component is not followed.
func resolve(root, p string) (string, error) {
	if !path.IsAbs(p) {
		p = "/" + p
	}
	dir, base := path.Split(path.Clean(p))
	parent, err := securejoin.SecureJoin(root, dir)
	if err != nil {
		return "", err
	}
	if base == "" || base == "/" {
		return parent, nil
	}
	return filepath.Join(parent, base), nil
}

func pathStat(host, p string) (container.PathStat, error) {
	fi, err := os.Lstat(host)
	if err != nil {
		if os.IsNotExist(err) {
			return container.PathStat{}, errdefs.NotFoundf("Could not find the file %s in container", p)
		}
		return container.PathStat{}, err
	}
	st := container.PathStat{Name: fi.Name(), Size: fi.Size(), Mode: fi.Mode(), Mtime: fi.ModTime()}
	if fi.Mode()&os.ModeSymlink != 0 {
		st.LinkTarget, _ = os.Readlink(host)
	}
	if p == "/" {
		st.Name = "/"
	}
	return st, nil
}

// StatPath describes a path inside the container (docker cp's HEAD).
func (s *Service) StatPath(ctx context.Context, ref, p string) (container.PathStat, error) {
	var st container.PathStat
	err := s.withRoot(ctx, ref, func(root string) error {
		host, err := resolve(root, p)
		if err != nil {
			return err
		}
		st, err = pathStat(host, p)
		return err
	})
	return st, err
}

// ArchivePath writes a tar of a path inside the container, its entries
// named from the path's base name; start is called with the path's stat
// before any byte is written.
func (s *Service) ArchivePath(ctx context.Context, ref, p string, start func(container.PathStat), w io.Writer) error {
	return s.withRoot(ctx, ref, func(root string) error {
		host, err := resolve(root, p)
		if err != nil {
			return err
		}
		st, err := pathStat(host, p)
		if err != nil {
			return err
		}
		start(st)
		name := st.Name
		if name == "/" {
			name = "."
		}
		tw := tar.NewWriter(w)
		if err := writeTree(tw, host, name); err != nil {
			return err
		}
		return tw.Close()
	})
}

func writeTree(tw *tar.Writer, host, name string) error {
	return filepath.WalkDir(host, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(host, p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&os.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name = path.Join(name, filepath.ToSlash(rel))
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.CopyN(tw, f, hdr.Size)
		return err
	})
}

// ExtractToDir unpacks a tar into a directory of the container (docker
// cp's PUT); every path stays inside that directory.
func (s *Service) ExtractToDir(ctx context.Context, ref, p string, r io.Reader) error {
	return s.withRoot(ctx, ref, func(root string) error {
		host, err := securejoin.SecureJoin(root, p)
		if err != nil {
			return err
		}
		fi, err := os.Stat(host)
		if err != nil {
			if os.IsNotExist(err) {
				return errdefs.NotFoundf("Could not find the file %s in container", p)
			}
			return err
		}
		if !fi.IsDir() {
			return errdefs.InvalidArgumentf("extraction point is not a directory: %s", p)
		}
		if ro, err := readOnlyAt(ctx, s, ref, p); err == nil && ro {
			return errdefs.Forbidden(fmt.Errorf("container rootfs is marked read-only"))
		}
		if _, _, err := archive.Apply(ctx, host, r, archive.ApplyOptions{}); err != nil {
			return errdefs.InvalidArgument(fmt.Errorf("extract archive: %w", err))
		}
		return nil
	})
}

// readOnlyAt reports whether the container's root filesystem is read-only
// and p is not under one of its writable mounts.
func readOnlyAt(_ context.Context, s *Service, ref, p string) (bool, error) {
	c, err := s.store.Get(ref)
	if err != nil {
		return false, err
	}
	if !c.HostConfig.ReadonlyRootfs {
		return false, nil
	}
	for _, m := range c.Mounts {
		if m.RW && (p == m.Destination || strings.HasPrefix(p, strings.TrimSuffix(m.Destination, "/")+"/")) {
			return false, nil
		}
	}
	for dst := range c.HostConfig.Tmpfs {
		if p == dst || strings.HasPrefix(p, strings.TrimSuffix(dst, "/")+"/") {
			return false, nil
		}
	}
	return true, nil
}
