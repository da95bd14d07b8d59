package containers

import (
	"context"
	"io"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/shim"
)

// ClientConn is a hijacked API connection: the client's stdin comes in,
// the container's output goes out.
type ClientConn interface {
	io.ReadWriteCloser
	CloseWrite() error
}

// AttachOptions are the attach request's streams.
type AttachOptions struct {
	Stdin, Stdout, Stderr bool
	Stream                bool
	Logs                  bool
}

type pendingAttach struct {
	opts AttachOptions
	tty  bool
	// conn arrives once the API connection is hijacked.
	conn chan ClientConn
	done chan error
}

// IsTTY reports whether the container has a terminal, i.e. whether its
// streams are raw rather than multiplexed.
func (s *Service) IsTTY(ref string) (bool, error) {
	c, err := s.store.Get(ref)
	if err != nil {
		return false, err
	}
	return c.Config.Tty, nil
}

// Attach connects the client's connection to the container's stdio until
// the container exits or the client leaves. hijack takes over the API
// connection; Attach calls it once the attach is registered, so that a
// start request the client sends next cannot miss it. Attaching to a
// container that does not run yet waits for its start.
func (s *Service) Attach(ctx context.Context, ref string, opts AttachOptions, hijack func() (ClientConn, error)) error {
	c, err := s.store.Get(ref)
	if err != nil {
		return err
	}
	tty := c.Config.Tty
	if !c.Config.OpenStdin {
		opts.Stdin = false
	}
	if !opts.Stream {
		conn, err := hijack()
		if err != nil {
			return err
		}
		if path, _ := c.LogFile(); opts.Logs && path != "" {
			return s.writeLogs(ctx, c, LogsOptions{Stdout: opts.Stdout, Stderr: opts.Stderr}, conn, tty)
		}
		return nil
	}
	unlock := s.lock(c.ID)
	c, err = s.store.Get(c.ID)
	if err != nil {
		unlock()
		return err
	}
	if c.State.Running() {
		unlock()
		stream, err := s.shimClient(c.ID).Attach(ctx, opts.Stdin, opts.Stdout, opts.Stderr)
		if err != nil {
			return errdefs.Conflict(err)
		}
		conn, err := hijack()
		if err != nil {
			stream.Close()
			return err
		}
		pipeStreams(stream, conn, opts.Stdin, tty)
		return nil
	}
	pa := &pendingAttach{opts: opts, tty: tty, conn: make(chan ClientConn, 1), done: make(chan error, 1)}
	s.mu.Lock()
	s.attaches[c.ID] = append(s.attaches[c.ID], pa)
	s.mu.Unlock()
	unlock()
	conn, err := hijack()
	if err != nil {
		s.dropAttach(c.ID, pa)
		return err
	}
	pa.conn <- conn
	select {
	case err := <-pa.done:
		return err
	case <-ctx.Done():
		s.dropAttach(c.ID, pa)
		return ctx.Err()
	}
}

func (s *Service) dropAttach(id string, pa *pendingAttach) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.attaches[id]
	for i, p := range list {
		if p == pa {
			s.attaches[id] = append(list[:i:i], list[i+1:]...)
			break
		}
	}
}

func (s *Service) takeAttaches(id string) []*pendingAttach {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.attaches[id]
	delete(s.attaches, id)
	return list
}

// connectPendingAttaches connects waiting attach requests to a new shim
// before the container starts, so no output is lost.
func (s *Service) connectPendingAttaches(id string, client shim.Client) {
	for _, pa := range s.takeAttaches(id) {
		stream, err := client.Attach(s.ctx, pa.opts.Stdin, pa.opts.Stdout, pa.opts.Stderr)
		if err != nil {
			pa.done <- err
			continue
		}
		go func(pa *pendingAttach) {
			pipeStreams(stream, <-pa.conn, pa.opts.Stdin, pa.tty)
			pa.done <- nil
		}(pa)
	}
}

func (s *Service) failPendingAttaches(id string, err error) {
	for _, pa := range s.takeAttaches(id) {
		pa.done <- err
	}
}

// pipeStreams copies the client's stdin to the shim and the shim's frames
// to the client (raw with a terminal, multiplexed without) until the
// process's exit frame.
func pipeStreams(stream *shim.Stream, conn ClientConn, stdin, tty bool) int {
	defer stream.Close()
	go func() {
		if stdin {
			io.Copy(stream, conn)
			stream.CloseWrite()
			return
		}
		// Clients half-close even without stdin: EOF here does not mean
		// they left, a failed write does.
		io.Copy(io.Discard, conn)
	}()
	code := -1
	for {
		typ, p, err := stream.ReadFrame()
		if err != nil {
			return code
		}
		switch typ {
		case shim.StreamStdout, shim.StreamStderr:
			if tty {
				_, err = conn.Write(p)
			} else {
				err = shim.WriteFrame(conn, typ, p)
			}
			if err != nil {
				return code
			}
		case shim.StreamExit:
			code = atoi(string(p))
			return code
		}
	}
}

func atoi(s string) int {
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			return -1
		}
		n = n*10 + int(r-'0')
	}
	return n
}

// Resize sets the container's terminal size.
func (s *Service) Resize(ctx context.Context, ref string, height, width uint16) error {
	c, err := s.store.Get(ref)
	if err != nil {
		return err
	}
	if !c.State.Running() {
		return errdefs.Conflictf("Container %s is not running", ref)
	}
	if err := s.shimClient(c.ID).Resize(ctx, "", height, width); err != nil {
		return errdefs.Conflict(err)
	}
	return nil
}
