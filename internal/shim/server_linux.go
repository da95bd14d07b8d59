package shim

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
)

// Request is one call on the shim socket: a JSON line. Streaming ops
// (attach, exec) switch the connection to frames after the response line;
// the client's further bytes are the process's stdin.
type Request struct {
	Op string // state, start, events, attach, kill, resize, exec, exec-state, restart-policy

	Signal int  `json:",omitempty"`
	All    bool `json:",omitempty"`
	// Stop marks a kill as the user stopping the container (no restart).
	Stop bool `json:",omitempty"`

	Stdin  bool `json:",omitempty"`
	Stdout bool `json:",omitempty"`
	Stderr bool `json:",omitempty"`

	Height uint16 `json:",omitempty"`
	Width  uint16 `json:",omitempty"`

	ExecID   string          `json:",omitempty"`
	Process  json.RawMessage `json:",omitempty"` // OCI process for exec
	Terminal bool            `json:",omitempty"`
	Detach   bool            `json:",omitempty"`

	Restart *RestartPolicy `json:",omitempty"`
}

// Response is the shim's JSON line answer.
type Response struct {
	Error    string `json:",omitempty"`
	State    *State `json:",omitempty"`
	Pid      int    `json:",omitempty"`
	Running  bool   `json:",omitempty"`
	ExitCode int    `json:",omitempty"`
}

func (s *shim) serve(l net.Listener) {
	for {
		conn, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		go s.handle(conn)
	}
}

func (s *shim) handle(conn net.Conn) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	line, err := br.ReadBytes('\n')
	if err != nil {
		return
	}
	// Requests in flight are waited for at exit, so that a kill that
	// ends the container still gets its answer and event streams their
	// last state.
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		reply(conn, Response{Error: "bad request: " + err.Error()})
		return
	}
	switch req.Op {
	case "state":
		s.mu.Lock()
		st := s.state
		s.mu.Unlock()
		reply(conn, Response{State: &st})
	case "start":
		resp, first := s.handleStart()
		reply(conn, resp)
		if first {
			close(s.started)
		}
	case "events":
		s.handleEvents(conn)
	case "attach":
		s.handleAttach(conn, br, req)
	case "kill":
		reply(conn, s.handleKill(req))
	case "resize":
		reply(conn, s.handleResize(req))
	case "exec":
		s.handleExec(conn, br, req)
	case "exec-state":
		reply(conn, s.execState(req.ExecID))
	case "restart-policy":
		if req.Restart == nil {
			reply(conn, Response{Error: "no restart policy"})
			return
		}
		s.mu.Lock()
		s.cfg.Restart = *req.Restart
		s.mu.Unlock()
		reply(conn, Response{})
	default:
		reply(conn, Response{Error: "unknown op " + strconv.Quote(req.Op)})
	}
}

func reply(w io.Writer, r Response) {
	b, _ := json.Marshal(r)
	w.Write(append(b, '\n'))
}

func errResponse(err error) Response { return Response{Error: err.Error()} }

// handleStart starts the created container; first reports whether this
// was the start the shim waited for.
func (s *shim) handleStart() (resp Response, first bool) {
	s.mu.Lock()
	status := s.state.Status
	s.mu.Unlock()
	if status != StatusCreated {
		return Response{Error: "container already started"}, false
	}
	err := s.start()
	if err != nil {
		s.mu.Lock()
		s.state.Status = StatusExited
		s.state.Error = err.Error()
		s.state.ExitCode = 128
		s.mu.Unlock()
		s.forceDelete()
		s.publish()
	}
	if err != nil {
		return errResponse(err), true
	}
	s.mu.Lock()
	st := s.state
	s.mu.Unlock()
	return Response{State: &st, Pid: st.Pid}, true
}

// handleEvents sends the current state, then each change, until the
// container is done (the connection then closes).
func (s *shim) handleEvents(conn net.Conn) {
	ch := make(chan State, 16)
	s.mu.Lock()
	st := s.state
	s.events[ch] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.events, ch)
		s.mu.Unlock()
	}()
	closed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, conn)
		close(closed)
	}()
	reply(conn, Response{State: &st})
	enc := json.NewEncoder(conn)
	for st.Status != StatusExited {
		select {
		case st = <-ch:
		case <-closed:
			return
		}
		if err := enc.Encode(st); err != nil {
			return
		}
	}
}

func (s *shim) handleAttach(conn net.Conn, br *bufio.Reader, req Request) {
	s.mu.Lock()
	pio, status := s.io, s.state.Status
	s.mu.Unlock()
	if pio == nil || status == StatusExited {
		reply(conn, Response{Error: "container is not running"})
		return
	}
	reply(conn, Response{})
	sub := s.out.add(conn, req.Stdout, req.Stderr)
	go func() {
		if req.Stdin && s.cfg.OpenStdin {
			buf := make([]byte, 32*1024)
			for {
				n, err := br.Read(buf)
				if n > 0 {
					if werr := pio.writeStdin(buf[:n]); werr != nil {
						break
					}
				}
				if err != nil {
					break
				}
			}
			if s.cfg.StdinOnce && !s.cfg.Terminal {
				pio.closeStdin()
			}
			return
		}
		// Without stdin, EOF means the client went away.
		io.Copy(io.Discard, br)
		s.out.remove(sub)
	}()
	<-sub.done
}

func (s *shim) handleKill(req Request) Response {
	if req.Stop {
		s.requestStop()
	}
	s.mu.Lock()
	status := s.state.Status
	s.mu.Unlock()
	if status != StatusRunning {
		if status == StatusRestarting && req.Stop {
			return Response{}
		}
		return Response{Error: "container is not running"}
	}
	sig := req.Signal
	if sig == 0 {
		sig = int(syscall.SIGKILL)
	}
	args := []string{}
	if req.All {
		args = append(args, "--all")
	}
	args = append(args, s.cfg.ID, strconv.Itoa(sig))
	out, code, err := s.run(s.rt.Argv("kill", args...))
	if err != nil {
		return errResponse(err)
	}
	if code != 0 {
		return errResponse(runtimeError("kill", code, out, ""))
	}
	return Response{}
}

func (s *shim) handleResize(req Request) Response {
	var console *os.File
	s.mu.Lock()
	if req.ExecID != "" {
		if e, ok := s.execs[req.ExecID]; ok {
			console = e.io.console
		}
	} else if s.io != nil {
		console = s.io.console
	}
	s.mu.Unlock()
	if err := resize(console, req.Height, req.Width); err != nil {
		return errResponse(fmt.Errorf("resize: %w", err))
	}
	return Response{}
}
