package containers

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/oci"
	"github.com/berth-project/berth/internal/shim"
)

type execRecord struct {
	id          string
	containerID string
	cfg         container.ExecCreateRequest
	started     bool
	running     bool
	detached    bool
	exitCode    *int
	pid         int
}

// ExecCreate registers a process to run in a running container.
func (s *Service) ExecCreate(_ context.Context, ref string, req container.ExecCreateRequest) (string, error) {
	c, err := s.store.Get(ref)
	if err != nil {
		return "", err
	}
	if len(req.Cmd) == 0 {
		return "", errdefs.InvalidArgumentf("No exec command specified")
	}
	switch c.State.Status {
	case container.StateRunning:
	case container.StatePaused:
		return "", errdefs.Conflictf("Container %s is paused, unpause the container before exec", c.ID)
	default:
		return "", errdefs.Conflictf("container %s is not running", c.ID)
	}
	id := newID()
	s.mu.Lock()
	s.execs[id] = &execRecord{id: id, containerID: c.ID, cfg: req}
	s.mu.Unlock()
	s.emit(c, eventtypes.ActionExecCreate, map[string]string{"execID": id})
	return id, nil
}

func (s *Service) exec(id string) (*execRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.execs[id]
	if !ok {
		return nil, errdefs.NotFoundf("No such exec instance: %s", id)
	}
	return e, nil
}

// ExecIsTTY reports whether the exec has a terminal (raw stream).
func (s *Service) ExecIsTTY(id string) (bool, error) {
	e, err := s.exec(id)
	if err != nil {
		return false, err
	}
	return e.cfg.Tty, nil
}

// ExecStart runs the exec's process; unless detached, conn carries its
// stdio until it exits.
func (s *Service) ExecStart(ctx context.Context, id string, detach bool, conn ClientConn) error {
	e, err := s.exec(id)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if e.started {
		s.mu.Unlock()
		return errdefs.Conflictf("Error: Exec command %s is already running", id)
	}
	e.started = true
	s.mu.Unlock()
	c, err := s.store.Get(e.containerID)
	if err != nil {
		return err
	}
	if c.State.Status != container.StateRunning {
		return errdefs.Conflictf("container %s is not running", c.ID)
	}
	proc, err := s.execProcess(c.Dir, e.cfg)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(proc)
	if err != nil {
		return err
	}
	stream, pid, err := s.shimClient(c.ID).Exec(ctx, shim.Request{
		ExecID: id, Process: raw, Terminal: e.cfg.Tty, Stdin: e.cfg.AttachStdin, Detach: detach,
	})
	if err != nil {
		code := 126
		if isNotFound(err) {
			code = 127
		}
		s.mu.Lock()
		e.exitCode = &code
		s.mu.Unlock()
		if conn != nil && !detach {
			// Docker reports the failure inside the stream and via inspect.
			msg := []byte(fmt.Sprintf("OCI runtime exec failed: %v\n", err))
			if e.cfg.Tty {
				conn.Write(msg)
			} else {
				shim.WriteFrame(conn, shim.StreamStderr, msg)
			}
			return nil
		}
		return errdefs.Conflict(err)
	}
	s.mu.Lock()
	e.running, e.pid, e.detached = true, pid, detach
	s.mu.Unlock()
	s.emit(c, eventtypes.ActionExecStart, map[string]string{"execID": id})
	if detach {
		return nil
	}
	code := pipeStreams(stream, conn, e.cfg.AttachStdin, e.cfg.Tty)
	s.mu.Lock()
	e.running = false
	e.exitCode = &code
	s.mu.Unlock()
	s.emit(c, eventtypes.ActionExecDie, map[string]string{"execID": id, "exitCode": strconv.Itoa(code)})
	return nil
}

func isNotFound(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "executable file not found") || strings.Contains(msg, "no such file or directory")
}

// execProcess derives the exec's OCI process from the container's.
func (s *Service) execProcess(dir string, req container.ExecCreateRequest) (*specs.Process, error) {
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("read container spec: %w", err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		return nil, fmt.Errorf("read container spec: %w", err)
	}
	p := spec.Process
	p.Args = req.Cmd
	p.Terminal = req.Tty
	p.Env = oci.MergeEnv(p.Env, req.Env)
	if req.Tty {
		p.Env = oci.MergeEnv([]string{"TERM=xterm"}, p.Env)
	}
	if req.WorkingDir != "" {
		p.Cwd = req.WorkingDir
	}
	if req.User != "" {
		u, home, err := oci.ResolveUser(filepath.Join(dir, "rootfs"), req.User)
		if err != nil {
			return nil, err
		}
		p.User = u
		if home != "" {
			p.Env = oci.MergeEnv(p.Env, []string{"HOME=" + home})
		}
	}
	if req.Privileged {
		all := oci.AllCapabilities()
		p.Capabilities = &specs.LinuxCapabilities{Bounding: all, Effective: all, Permitted: all}
	}
	p.ConsoleSize = nil
	return p, nil
}

// ExecInspect reports an exec's state.
func (s *Service) ExecInspect(ctx context.Context, id string) (container.ExecInspectResponse, error) {
	e, err := s.exec(id)
	if err != nil {
		return container.ExecInspectResponse{}, err
	}
	s.mu.Lock()
	running, detached, pid := e.running, e.detached, e.pid
	s.mu.Unlock()
	if running && detached {
		if st, err := s.shimClient(e.containerID).ExecState(ctx, id); err == nil {
			s.mu.Lock()
			if !st.Running {
				code := st.ExitCode
				e.running, e.exitCode = false, &code
			}
			s.mu.Unlock()
		} else {
			s.mu.Lock()
			e.running = false
			s.mu.Unlock()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	resp := container.ExecInspectResponse{
		ID:          e.id,
		Running:     e.running,
		ExitCode:    e.exitCode,
		OpenStdin:   e.cfg.AttachStdin,
		OpenStdout:  e.cfg.AttachStdout,
		OpenStderr:  e.cfg.AttachStderr,
		ContainerID: e.containerID,
		Pid:         pid,
		ProcessConfig: &container.ExecProcessConfig{
			Tty: e.cfg.Tty, Entrypoint: e.cfg.Cmd[0], Arguments: e.cfg.Cmd[1:], User: e.cfg.User,
		},
	}
	return resp, nil
}

// ExecResize sets an exec's terminal size.
func (s *Service) ExecResize(ctx context.Context, id string, height, width uint16) error {
	e, err := s.exec(id)
	if err != nil {
		return err
	}
	if err := s.shimClient(e.containerID).Resize(ctx, id, height, width); err != nil {
		return errdefs.Conflict(err)
	}
	return nil
}

// execIDs lists the exec instances of a container.
func (s *Service) execIDs(containerID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id, e := range s.execs {
		if e.containerID == containerID {
			ids = append(ids, id)
		}
	}
	return ids
}
