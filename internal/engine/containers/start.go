package containers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	eventtypes "github.com/moby/moby/api/types/events"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	crec "github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/shim"
)

// Start starts a created or exited container under a new shim.
func (s *Service) Start(ctx context.Context, ref string) error {
	c, unlock, err := s.getLocked(ref)
	if err != nil {
		return err
	}
	defer unlock()
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
	if scfg.Health != nil {
		if err := writeProbeProcess(scfg.Health.Process, spec.Process, c.Config.Healthcheck.Test); err != nil {
			return err
		}
	}
	cfgPath := filepath.Join(c.Dir, "shim.conf")
	if err := shim.WriteConfig(cfgPath, scfg); err != nil {
		return fmt.Errorf("write shim config: %w", err)
	}
	os.Remove(scfg.StateFile)
	if _, err := shim.Launch(cfgPath, filepath.Join(c.Dir, "shim.log")); err != nil {
		return err
	}
	if err := s.networkReady(ctx, c); err != nil {
		s.killOrphan(c)
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
	if err := s.deleteRuntimeState(c); err != nil {
		log.Printf("container %s: %v", c.ID, err)
	}
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
	rt, err := s.runtimeFor(c)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(s.cfg.ExecRoot, "shim"), 0o700); err != nil {
		return nil, err
	}
	hc := c.HostConfig
	ls, err := parseLogConfig(hc.LogConfig, s.cfg.LogMaxSize, s.cfg.LogMaxFiles)
	if err != nil {
		return nil, err
	}
	logPath, _ := c.LogFile()
	if ls.driver == "local" {
		if err := os.MkdirAll(filepath.Dir(logPath), 0o700); err != nil {
			return nil, fmt.Errorf("create log dir: %w", err)
		}
	}
	cfg := &shim.Config{
		ID:           c.ID,
		Bundle:       c.Dir,
		Runtime:      rt.Binary,
		RuntimeArgs:  rt.Args,
		RuntimeRoot:  s.runtimeRoot(rt),
		Berth:        s.cfg.Berth,
		Socket:       s.shimSocket(c.ID),
		StateFile:    filepath.Join(c.Dir, "state.json"),
		LogDriver:    ls.driver,
		LogPath:      logPath,
		LogMaxSize:   ls.maxSize,
		LogMaxFiles:  ls.maxFiles,
		LogCompress:  ls.compress,
		Terminal:     c.Config.Tty,
		OpenStdin:    c.Config.OpenStdin,
		StdinOnce:    c.Config.StdinOnce,
		Restart:      shim.RestartPolicy{Name: string(hc.RestartPolicy.Name), MaxRetries: hc.RestartPolicy.MaximumRetryCount},
		RestartCount: restartCount,
		// berth's own runtime: the daemon deletes a finished container
		// in process; other runtimes' state is deleted by the shim.
		DeleteOnExit: !rt.Builtin,
	}
	if rt.Builtin && s.cfg.Berth != "" {
		cfg.Helper = s.cfg.Berth
	}
	if h := c.Config.Healthcheck; h != nil && len(h.Test) > 0 && h.Test[0] != "NONE" {
		cfg.Health = &shim.HealthConfig{
			Process:  filepath.Join(c.Dir, "health.json"),
			Interval: h.Interval, Timeout: h.Timeout,
			StartPeriod: h.StartPeriod, StartInterval: h.StartInterval, Retries: h.Retries,
		}
	}
	return cfg, nil
}

// writeProbeProcess writes the healthcheck's process for the runtime's
// exec: the container's process with the probe's argv and no terminal.
func writeProbeProcess(path string, p *specs.Process, test []string) error {
	var args []string
	switch {
	case len(test) >= 2 && test[0] == "CMD":
		args = test[1:]
	case len(test) == 2 && test[0] == "CMD-SHELL":
		args = []string{"/bin/sh", "-c", test[1]}
	default:
		return errdefs.InvalidArgumentf("invalid healthcheck test %q", test)
	}
	probe := *p
	probe.Args = args
	probe.Terminal = false
	probe.ConsoleSize = nil
	b, err := json.Marshal(&probe)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("write healthcheck process: %w", err)
	}
	return nil
}
