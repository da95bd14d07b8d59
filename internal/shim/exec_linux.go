package shim

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"
)

// execProc is a process started in the container by exec.
type execProc struct {
	pid      int
	io       *procIO
	out      *broadcaster
	running  bool
	exitCode int
	done     chan struct{}
}

func (s *shim) handleExec(conn net.Conn, br *bufio.Reader, req Request) {
	e, sub, err := s.startExec(req, conn)
	if err != nil {
		reply(conn, errResponse(err))
		return
	}
	if req.Detach {
		return
	}
	go func() {
		if req.Stdin {
			buf := make([]byte, 32*1024)
			for {
				n, err := br.Read(buf)
				if n > 0 {
					if e.io.writeStdin(buf[:n]) != nil {
						break
					}
				}
				if err != nil {
					break
				}
			}
			if !req.Terminal {
				e.io.closeStdin()
			}
			return
		}
		io.Copy(io.Discard, br)
	}()
	<-sub.done
}

// startExec runs `runtime exec -d` with the process's stdio, answers on
// conn, subscribes conn to the output unless detached, and waits for the
// process in the background.
func (s *shim) startExec(req Request, conn io.Writer) (*execProc, *subscriber, error) {
	s.mu.Lock()
	if s.state.Status != StatusRunning {
		s.mu.Unlock()
		return nil, nil, fmt.Errorf("container is not running")
	}
	s.execSeq++
	n := s.execSeq
	s.mu.Unlock()
	procFile := s.path(fmt.Sprintf("exec-%d.json", n))
	pidFile := s.path(fmt.Sprintf("exec-%d.pid", n))
	if err := os.WriteFile(procFile, req.Process, 0o600); err != nil {
		return nil, nil, fmt.Errorf("write exec process: %w", err)
	}
	defer os.Remove(procFile)
	defer os.Remove(pidFile)
	args := []string{"--process", procFile, "--pid-file", pidFile, "-d"}
	var (
		pio      *procIO
		err      error
		consoleL *consoleListener
	)
	if req.Terminal {
		pio, err = nullIO()
		if err != nil {
			return nil, nil, err
		}
		path := s.cfg.Socket + "." + strconv.Itoa(n) + ".pty"
		l, err := listenConsole(path)
		if err != nil {
			pio.closeChild()
			return nil, nil, err
		}
		consoleL = &consoleListener{l: l, path: path}
		defer consoleL.Close()
		args = append(args, "--tty", "--console-socket", path)
	} else {
		pio, err = newPipes(req.Stdin)
		if err != nil {
			return nil, nil, err
		}
	}
	rt := s.rt
	rt.Log = s.path(fmt.Sprintf("exec-%d.log", n))
	defer os.Remove(rt.Log)
	_, wait, err := s.reaper.start(rt.Argv("exec", append(args, s.cfg.ID)...), pio.child, false)
	pio.closeChild()
	if err != nil {
		pio.close()
		return nil, nil, fmt.Errorf("start runtime: %w", err)
	}
	if code := <-wait; code != 0 {
		pio.close()
		if pio.outR != nil {
			pio.outR.Close()
			pio.errR.Close()
		}
		return nil, nil, runtimeError("exec", code, nil, LastLogError(rt.Log))
	}
	pid, err := readPid(pidFile)
	if err != nil {
		pio.close()
		return nil, nil, err
	}
	exit := s.reaper.watch(pid)
	if consoleL != nil {
		master, err := receiveConsole(consoleL.l)
		if err != nil {
			return nil, nil, err
		}
		pio.console = master
	}
	e := &execProc{pid: pid, io: pio, out: newBroadcaster(), running: true, done: make(chan struct{})}
	reply(conn, Response{Pid: pid, Running: true})
	var sub *subscriber
	if !req.Detach {
		sub = e.out.add(conn, true, true)
	}
	pio.startPumps(nil, e.out)
	s.mu.Lock()
	s.execs[req.ExecID] = e
	s.mu.Unlock()
	go func() {
		code := <-exit
		pio.waitPumps(2 * time.Second)
		pio.close()
		if pio.console != nil {
			pio.console.Close()
		}
		s.mu.Lock()
		e.running, e.exitCode = false, code
		s.mu.Unlock()
		e.out.closeAll(code)
		close(e.done)
	}()
	return e, sub, nil
}

func (s *shim) execState(id string) Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.execs[id]
	if !ok {
		return Response{Error: "no such exec: " + id}
	}
	return Response{Pid: e.pid, Running: e.running, ExitCode: e.exitCode}
}
