package containers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	crec "github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/oci"
)

// setupMounts turns -v binds, --mount specs and the image's VOLUMEs into
// mount points, acquiring (and creating) the volumes they name. On error
// nothing stays acquired.
func (s *Service) setupMounts(ctx context.Context, c *crec.Container, img Image) (mps []container.MountPoint, err error) {
	seen := map[string]bool{}
	defer func() {
		if err != nil {
			s.releaseMounts(ctx, &crec.Container{ID: c.ID, Mounts: mps}, true)
			mps = nil
		}
	}()
	add := func(mp container.MountPoint) error {
		if !filepath.IsAbs(mp.Destination) {
			return errdefs.InvalidArgumentf("invalid mount config: mount path must be absolute: %s", mp.Destination)
		}
		mp.Destination = filepath.Clean(mp.Destination)
		if seen[mp.Destination] {
			return errdefs.InvalidArgumentf("Duplicate mount point: %s", mp.Destination)
		}
		seen[mp.Destination] = true
		if mp.Type == mount.TypeVolume {
			name, path, err := s.volumes.Acquire(ctx, mp.Name, c.ID)
			if err != nil {
				return err
			}
			mp.Name, mp.Source, mp.Driver = name, path, "local"
		}
		mps = append(mps, mp)
		return nil
	}
	for _, b := range c.HostConfig.Binds {
		mp, err := parseBind(b)
		if err != nil {
			return mps, err
		}
		if err := add(mp); err != nil {
			return mps, err
		}
	}
	for _, m := range c.HostConfig.Mounts {
		mp, err := parseMount(m)
		if err != nil {
			return mps, err
		}
		if err := add(mp); err != nil {
			return mps, err
		}
	}
	for _, from := range c.HostConfig.VolumesFrom {
		name, mode, _ := strings.Cut(from, ":")
		src, err := s.store.Get(name)
		if err != nil {
			return mps, err
		}
		for _, mp := range src.Mounts {
			if mp.Type == mount.TypeTmpfs {
				continue
			}
			switch mode {
			case "ro":
				mp.RW = false
			case "rw":
				mp.RW = true
			case "":
			default:
				return mps, errdefs.InvalidArgumentf("invalid mode for volumes-from: %s", mode)
			}
			if err := add(mp); err != nil {
				return mps, err
			}
		}
	}
	var imageVols []string
	for dst := range c.Config.Volumes {
		imageVols = append(imageVols, dst)
	}
	sort.Strings(imageVols)
	for _, dst := range imageVols {
		if seen[filepath.Clean(dst)] {
			continue
		}
		if err := add(container.MountPoint{Type: mount.TypeVolume, Destination: dst, RW: true}); err != nil {
			return mps, err
		}
	}
	return mps, nil
}

// parseBind parses "SRC:DST[:OPTS]" (SRC a host path or a volume name).
func parseBind(spec string) (container.MountPoint, error) {
	parts := strings.Split(spec, ":")
	var mp container.MountPoint
	switch len(parts) {
	case 2, 3:
	default:
		return mp, errdefs.InvalidArgumentf("invalid volume specification: '%s'", spec)
	}
	src, dst := parts[0], parts[1]
	mp.RW = true
	mp.Destination = dst
	if len(parts) == 3 {
		mp.Mode = parts[2]
		for _, o := range strings.Split(parts[2], ",") {
			switch o {
			case "ro":
				mp.RW = false
			case "rw", "z", "Z", "nocopy", "":
			case "private", "rprivate", "shared", "rshared", "slave", "rslave":
				mp.Propagation = mount.Propagation(o)
			default:
				return mp, errdefs.InvalidArgumentf("invalid mode: %s", o)
			}
		}
	}
	if src == "" {
		return mp, errdefs.InvalidArgumentf("invalid volume specification: '%s'", spec)
	}
	if filepath.IsAbs(src) {
		mp.Type = mount.TypeBind
		mp.Source = filepath.Clean(src)
		if mp.Propagation == "" {
			mp.Propagation = mount.PropagationRPrivate
		}
		if _, err := os.Stat(mp.Source); os.IsNotExist(err) {
			if err := os.MkdirAll(mp.Source, 0o755); err != nil {
				return mp, fmt.Errorf("create bind source %s: %w", mp.Source, err)
			}
		}
		return mp, nil
	}
	mp.Type = mount.TypeVolume
	mp.Name = src
	return mp, nil
}

// parseMount converts a --mount spec.
func parseMount(m mount.Mount) (container.MountPoint, error) {
	mp := container.MountPoint{Type: m.Type, Destination: m.Target, RW: !m.ReadOnly}
	if m.Target == "" {
		return mp, errdefs.InvalidArgumentf("invalid mount config: Target must not be empty")
	}
	switch m.Type {
	case mount.TypeBind:
		if m.Source == "" || !filepath.IsAbs(m.Source) {
			return mp, errdefs.InvalidArgumentf("invalid mount config for type \"bind\": invalid mount path: '%s' mount path must be absolute", m.Source)
		}
		if _, err := os.Stat(m.Source); err != nil {
			if m.BindOptions == nil || !m.BindOptions.CreateMountpoint {
				return mp, errdefs.InvalidArgumentf("invalid mount config for type \"bind\": bind source path does not exist: %s", m.Source)
			}
			if err := os.MkdirAll(m.Source, 0o755); err != nil {
				return mp, fmt.Errorf("create bind source: %w", err)
			}
		}
		mp.Source = filepath.Clean(m.Source)
		mp.Propagation = mount.PropagationRPrivate
		if m.BindOptions != nil && m.BindOptions.Propagation != "" {
			mp.Propagation = m.BindOptions.Propagation
		}
	case mount.TypeVolume:
		mp.Name = m.Source
	case mount.TypeTmpfs:
		if m.Source != "" {
			return mp, errdefs.InvalidArgumentf("invalid mount config for type \"tmpfs\": source must not be specified")
		}
		var opts []string
		if o := m.TmpfsOptions; o != nil {
			if o.SizeBytes > 0 {
				opts = append(opts, fmt.Sprintf("size=%d", o.SizeBytes))
			}
			if o.Mode != 0 {
				opts = append(opts, fmt.Sprintf("mode=%o", o.Mode))
			}
		}
		mp.Mode = strings.Join(opts, ",")
	default:
		return mp, errdefs.InvalidArgumentf("invalid mount config: mount type %q is not supported", m.Type)
	}
	return mp, nil
}

// releaseMounts drops the container's volume uses; removeAnon also
// deletes its anonymous volumes.
func (s *Service) releaseMounts(ctx context.Context, c *crec.Container, removeAnon bool) error {
	var firstErr error
	for _, mp := range c.Mounts {
		if mp.Type != mount.TypeVolume || mp.Name == "" {
			continue
		}
		if err := s.volumes.Release(ctx, mp.Name, c.ID, removeAnon); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// specMounts turns the container's mount points into OCI mounts.
func specMounts(c *crec.Container) []specs.Mount {
	var out []specs.Mount
	for _, mp := range c.Mounts {
		switch mp.Type {
		case mount.TypeTmpfs:
			m := oci.TmpfsMount(mp.Destination, mp.Mode)
			if !mp.RW {
				m.Options = append(m.Options, "ro")
			}
			out = append(out, m)
		default:
			opts := []string{"rbind"}
			if !mp.RW {
				opts = append(opts, "ro")
			}
			prop := string(mp.Propagation)
			if prop == "" {
				prop = "rprivate"
			}
			opts = append(opts, prop)
			out = append(out, specs.Mount{Destination: mp.Destination, Type: "bind", Source: mp.Source, Options: opts})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		return strings.Count(out[i].Destination, "/") < strings.Count(out[j].Destination, "/")
	})
	return out
}
