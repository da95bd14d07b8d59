package containers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"

	crec "github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/shim"
)

// Default json-file rotation: users lose disks to unrotated logs.
const (
	DefaultLogMaxSize  = 10 << 20
	DefaultLogMaxFiles = 3
)

// Start starts a created or exited container under a new shim.
func (s *Service) Start(ctx context.Context, ref string) error {
	c, err := s.store.Get(ref)
	if err != nil {
		return err
	}
	unlock := s.lock(c.ID)
	defer unlock()
	if c, err = s.store.Get(c.ID); err != nil {
		return err
	}
	if err := c.State.CanStart(); err != nil {
		return err
	}
	return s.startLocked(ctx, c, 0)
}

func (s *Service) startLocked(ctx context.Context, c *crec.Container, restartCount int) (err error) {
	rootfs := filepath.Join(c.Dir, "rootfs")
	defer func() {
		if err != nil {
			err = s.startFailed(ctx, c, rootfs, err)
		}
	}()
	netns, err := s.setupNetwork(ctx, c)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		return fmt.Errorf("create rootfs dir: %w", err)
	}
	if err := s.images.Mount(ctx, c.ID, c.ImageID, rootfs); err != nil {
		return fmt.Errorf("mount rootfs: %w", err)
	}
	spec, err := s.buildSpec(c, rootfs, netns)
	if err != nil {
		return err
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.Dir, "config.json"), b, 0o600); err != nil {
		return fmt.Errorf("write spec: %w", err)
	}
	scfg, err := s.shimConfig(c, restartCount)
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(c.Dir, "shim.json")
	if err := shim.WriteConfig(cfgPath, scfg); err != nil {
		return fmt.Errorf("write shim config: %w", err)
	}
	os.Remove(scfg.StateFile)
	if _, err := shim.Launch(s.cfg.ShimArgv, cfgPath, filepath.Join(c.Dir, "shim.log")); err != nil {
		return err
	}
	client := s.shimClient(c.ID)
	if cs := c.HostConfig.ConsoleSize; c.Config.Tty && cs[0] > 0 && cs[1] > 0 {
		// The terminal has the client's size from the first byte on.
		if err := client.Resize(ctx, "", uint16(cs[0]), uint16(cs[1])); err != nil {
			return fmt.Errorf("set console size: %w", err)
		}
	}
	s.connectPendingAttaches(c.ID, client)
	st, err := client.Start(ctx)
	if err != nil {
		return err
	}
	c.State.SetRunning(st.Pid, st.StartedAt)
	c.RestartCount = restartCount
	c.ManuallyStopped = false
	if err := s.save(c); err != nil {
		return err
	}
	s.watch(c.ID)
	s.emit(c, eventtypes.ActionStart, nil)
	return nil
}

// startFailed records a failed start the way Docker does (exit code 127
// for a missing command, 126 for one that cannot run, else 128) and
// classifies the error.
func (s *Service) startFailed(ctx context.Context, c *crec.Container, rootfs string, cause error) error {
	s.failPendingAttaches(c.ID, cause)
	_ = s.images.Unmount(ctx, c.ID, rootfs)
	s.teardownNetwork(ctx, c)
	msg := cause.Error()
	code := 128
	var out error = cause
	switch {
	case strings.Contains(msg, "executable file not found") || strings.Contains(msg, "no such file or directory"):
		code = 127
		out = errdefs.InvalidArgument(cause)
	case strings.Contains(msg, "permission denied"):
		code = 126
		out = errdefs.InvalidArgument(cause)
	case strings.Contains(msg, "not a directory"):
		code = 127
		out = errdefs.InvalidArgument(fmt.Errorf("%s: Are you trying to mount a directory onto a file (or vice-versa)? Check if the specified host path exists and is the expected type", msg))
	case errdefs.IsInvalidArgument(cause) || errdefs.IsNotFound(cause):
		out = cause
	}
	c.State.SetStartFailed(code, msg, time.Now().UTC())
	if err := s.save(c); err != nil {
		return errors.Join(out, err)
	}
	s.mu.Lock()
	s.exits[c.ID]++
	s.lastExit[c.ID] = code
	s.mu.Unlock()
	s.notify(c.ID)
	if c.HostConfig.AutoRemove {
		go s.Remove(context.Background(), c.ID, RemoveOptions{Force: true, RemoveVolumes: true})
	}
	return out
}

func (s *Service) shimConfig(c *crec.Container, restartCount int) (*shim.Config, error) {
	rt, err := s.shimRuntime(c)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(s.cfg.ExecRoot, "shim"), 0o700); err != nil {
		return nil, err
	}
	hc := c.HostConfig
	maxSize, maxFiles := s.cfg.LogMaxSize, s.cfg.LogMaxFiles
	if v := hc.LogConfig.Config["max-size"]; v != "" {
		n, err := units.RAMInBytes(v)
		if err != nil {
			return nil, errdefs.InvalidArgumentf("invalid max-size %q: %v", v, err)
		}
		maxSize = n
	}
	if v := hc.LogConfig.Config["max-file"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, errdefs.InvalidArgumentf("invalid max-file %q", v)
		}
		maxFiles = n
	}
	return &shim.Config{
		Health:       healthConfig(c.Config.Healthcheck),
		ID:           c.ID,
		Bundle:       c.Dir,
		Runtime:      rt.Binary,
		RuntimeArgs:  rt.Args,
		RuntimeRoot:  rt.Root,
		Socket:       s.shimSocket(c.ID),
		StateFile:    filepath.Join(c.Dir, "state.json"),
		LogPath:      c.LogPath,
		LogMaxSize:   maxSize,
		LogMaxFiles:  maxFiles,
		Terminal:     c.Config.Tty,
		OpenStdin:    c.Config.OpenStdin,
		StdinOnce:    c.Config.StdinOnce,
		Restart:      shim.RestartPolicy{Name: string(hc.RestartPolicy.Name), MaxRetries: hc.RestartPolicy.MaximumRetryCount},
		RestartCount: restartCount,
	}, nil
}

// healthConfig is the healthcheck the shim runs (nil for none or NONE).
func healthConfig(h *container.HealthConfig) *shim.HealthConfig {
	if h == nil || len(h.Test) == 0 || h.Test[0] == "NONE" {
		return nil
	}
	return &shim.HealthConfig{
		Test: h.Test, Interval: h.Interval, Timeout: h.Timeout,
		StartPeriod: h.StartPeriod, StartInterval: h.StartInterval, Retries: h.Retries,
	}
}
