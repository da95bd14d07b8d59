package shim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// Launch starts berth-shim for the container described by the config at
// cfgPath, in its own session, with its output appended to logPath. It
// returns once the container is created (the shim then waits for
// Client.Start) or with the shim's error.
func Launch(cfgPath, logPath string) (int, error) {
	exe, err := executable()
	if err != nil {
		return 0, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		w.Close()
		return 0, fmt.Errorf("open shim log: %w", err)
	}
	defer logf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		w.Close()
		return 0, err
	}
	defer devnull.Close()
	cmd := &exec.Cmd{Path: exe, Args: []string{"berth-shim", cfgPath}}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, logf, logf
	cmd.ExtraFiles = []*os.File{w}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return 0, fmt.Errorf("start shim: %w", err)
	}
	w.Close()
	go cmd.Wait() // reap the shim when it ends while we run
	b, err := io.ReadAll(r)
	if err != nil {
		return 0, fmt.Errorf("read shim status: %w", err)
	}
	var resp Response
	if len(b) == 0 {
		return 0, errors.New("shim exited before creating the container")
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		return 0, fmt.Errorf("bad shim status %q: %w", b, err)
	}
	if resp.Error != "" {
		return 0, errors.New(resp.Error)
	}
	return resp.Pid, nil
}

// Request is one call on the shim socket. Streaming ops (attach, exec)
// switch the connection to frames after the response line; the client's
// further bytes are the process's stdin.
type Request struct {
	Op string // state, start, events, attach, kill, resize, exec, exec-state, restart-policy

	Signal int
	All    bool
	// Stop marks a kill as the user stopping the container (no restart).
	Stop bool

	Stdin, Stdout, Stderr bool

	Height, Width uint16

	ExecID   string
	Process  json.RawMessage // OCI process for exec
	Terminal bool
	Detach   bool

	Restart *RestartPolicy
}

// encode renders the request as the shim reads it: "OP key=value ...\n",
// followed by the process JSON for exec.
func (r Request) encode() ([]byte, error) {
	b := []byte(r.Op)
	word := func(k, v string) {
		b = append(b, ' ')
		b = append(b, k...)
		b = append(b, '=')
		b = append(b, v...)
	}
	flag := func(v bool) string {
		if v {
			return "1"
		}
		return "0"
	}
	if r.ExecID != "" && strings.ContainsAny(r.ExecID, " \n=") {
		return nil, fmt.Errorf("bad exec id %q", r.ExecID)
	}
	switch r.Op {
	case "attach":
		word("stdin", flag(r.Stdin))
		word("stdout", flag(r.Stdout))
		word("stderr", flag(r.Stderr))
	case "kill":
		word("sig", strconv.Itoa(r.Signal))
		word("all", flag(r.All))
		word("stop", flag(r.Stop))
	case "resize":
		if r.ExecID != "" {
			word("exec", r.ExecID)
		}
		word("h", strconv.Itoa(int(r.Height)))
		word("w", strconv.Itoa(int(r.Width)))
	case "exec":
		word("id", r.ExecID)
		word("tty", flag(r.Terminal))
		word("stdin", flag(r.Stdin))
		word("detach", flag(r.Detach))
		word("len", strconv.Itoa(len(r.Process)))
	case "exec-state":
		word("id", r.ExecID)
	case "restart-policy":
		if r.Restart == nil || strings.ContainsAny(r.Restart.Name, " \n=") {
			return nil, errors.New("no restart policy")
		}
		word("name", r.Restart.Name)
		word("max", strconv.Itoa(r.Restart.MaxRetries))
	}
	b = append(b, '\n')
	if r.Op == "exec" {
		b = append(b, r.Process...)
	}
	return b, nil
}

// Response is the shim's JSON line answer.
type Response struct {
	Error    string `json:",omitempty"`
	State    *State `json:",omitempty"`
	Pid      int    `json:",omitempty"`
	Running  bool   `json:",omitempty"`
	ExitCode int    `json:",omitempty"`
}

// Client talks to a running shim.
type Client struct {
	Socket string
}

// ErrShimGone means no shim answers on the socket.
var ErrShimGone = errors.New("shim is not running")

func (c Client) call(ctx context.Context, req Request) (net.Conn, *bufio.Reader, Response, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.Socket)
	if err != nil {
		return nil, nil, Response{}, fmt.Errorf("%w: %v", ErrShimGone, err)
	}
	b, err := req.encode()
	if err != nil {
		conn.Close()
		return nil, nil, Response{}, err
	}
	if _, err := conn.Write(b); err != nil {
		conn.Close()
		return nil, nil, Response{}, fmt.Errorf("%w: %v", ErrShimGone, err)
	}
	br := bufio.NewReader(conn)
	line, err := br.ReadBytes('\n')
	if err != nil {
		conn.Close()
		return nil, nil, Response{}, fmt.Errorf("%w: %v", ErrShimGone, err)
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		conn.Close()
		return nil, nil, Response{}, fmt.Errorf("bad shim response: %w", err)
	}
	if resp.Error != "" {
		conn.Close()
		return nil, nil, resp, errors.New(resp.Error)
	}
	return conn, br, resp, nil
}

func (c Client) simple(ctx context.Context, req Request) (Response, error) {
	conn, _, resp, err := c.call(ctx, req)
	if conn != nil {
		conn.Close()
	}
	return resp, err
}

// State asks for the container's state.
func (c Client) State(ctx context.Context) (*State, error) {
	resp, err := c.simple(ctx, Request{Op: "state"})
	if err != nil {
		return nil, err
	}
	return resp.State, nil
}

// Start starts the created container.
func (c Client) Start(ctx context.Context) (*State, error) {
	resp, err := c.simple(ctx, Request{Op: "start"})
	if err != nil {
		return nil, err
	}
	return resp.State, nil
}

// Kill signals the container's init (all its processes with all); stop
// marks it as stopped by the user.
func (c Client) Kill(ctx context.Context, sig int, all, stop bool) error {
	_, err := c.simple(ctx, Request{Op: "kill", Signal: sig, All: all, Stop: stop})
	return err
}

// Resize sets the terminal size of the container (execID "") or an exec.
func (c Client) Resize(ctx context.Context, execID string, height, width uint16) error {
	_, err := c.simple(ctx, Request{Op: "resize", ExecID: execID, Height: height, Width: width})
	return err
}

// SetRestartPolicy changes the restart policy of the running container.
func (c Client) SetRestartPolicy(ctx context.Context, name string, maxRetries int) error {
	_, err := c.simple(ctx, Request{Op: "restart-policy", Restart: &RestartPolicy{Name: name, MaxRetries: maxRetries}})
	return err
}

// ExecState reports an exec's pid, whether it runs and its exit code.
func (c Client) ExecState(ctx context.Context, execID string) (Response, error) {
	return c.simple(ctx, Request{Op: "exec-state", ExecID: execID})
}

// Attach connects to the container's stdio.
func (c Client) Attach(ctx context.Context, stdin, stdout, stderr bool) (*Stream, error) {
	conn, br, _, err := c.call(ctx, Request{Op: "attach", Stdin: stdin, Stdout: stdout, Stderr: stderr})
	if err != nil {
		return nil, err
	}
	return &Stream{conn: conn, r: br}, nil
}

// Exec starts a process in the container. Unless req.Detach, the returned
// stream carries its output and ends with its exit code.
func (c Client) Exec(ctx context.Context, req Request) (*Stream, int, error) {
	req.Op = "exec"
	conn, br, resp, err := c.call(ctx, req)
	if err != nil {
		return nil, 0, err
	}
	if req.Detach {
		conn.Close()
		return nil, resp.Pid, nil
	}
	return &Stream{conn: conn, r: br}, resp.Pid, nil
}

// Events streams the container's states until its shim ends; the channel
// closes then.
func (c Client) Events(ctx context.Context) (<-chan State, error) {
	conn, br, resp, err := c.call(ctx, Request{Op: "events"})
	if err != nil {
		return nil, err
	}
	ch := make(chan State, 16)
	if resp.State != nil {
		ch <- *resp.State
	}
	go func() {
		defer close(ch)
		defer conn.Close()
		dec := json.NewDecoder(br)
		for {
			var st State
			if err := dec.Decode(&st); err != nil {
				return
			}
			select {
			case ch <- st:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}

// Stream is an attach or exec connection: frames from the shim, stdin to it.
type Stream struct {
	conn net.Conn
	r    *bufio.Reader
	buf  []byte
}

// ReadFrame returns the next output frame (see StreamStdout, StreamExit).
func (s *Stream) ReadFrame() (byte, []byte, error) {
	var (
		t   byte
		err error
	)
	t, s.buf, err = ReadFrame(s.r, s.buf)
	return t, s.buf, err
}

// Write sends stdin.
func (s *Stream) Write(p []byte) (int, error) { return s.conn.Write(p) }

// CloseWrite ends stdin.
func (s *Stream) CloseWrite() error {
	if uc, ok := s.conn.(*net.UnixConn); ok {
		return uc.CloseWrite()
	}
	return nil
}

// Close ends the stream.
func (s *Stream) Close() error { return s.conn.Close() }
