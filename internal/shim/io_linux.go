package shim

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// broadcaster sends output frames to the attached clients.
type broadcaster struct {
	mu   sync.Mutex
	subs map[*subscriber]struct{}
}

type subscriber struct {
	w              io.Writer
	stdout, stderr bool
	done           chan struct{}
}

func newBroadcaster() *broadcaster { return &broadcaster{subs: map[*subscriber]struct{}{}} }

func (b *broadcaster) add(w io.Writer, stdout, stderr bool) *subscriber {
	s := &subscriber{w: w, stdout: stdout, stderr: stderr, done: make(chan struct{})}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

func (b *broadcaster) remove(s *subscriber) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[s]; ok {
		delete(b.subs, s)
		close(s.done)
	}
}

func (b *broadcaster) write(stream byte, p []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		if (stream == StreamStdout && !s.stdout) || (stream == StreamStderr && !s.stderr) {
			continue
		}
		if err := WriteFrame(s.w, stream, p); err != nil {
			delete(b.subs, s)
			close(s.done)
		}
	}
}

// closeAll ends every stream with the exit code frame.
func (b *broadcaster) closeAll(code int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		_ = WriteFrame(s.w, StreamExit, []byte(strconv.Itoa(code)))
		delete(b.subs, s)
		close(s.done)
	}
}

// procIO is the stdio of one container process on the shim's side.
type procIO struct {
	stdin   io.WriteCloser // nil when stdin is closed
	stdinMu sync.Mutex
	console *os.File // pty master with a terminal
	child   []*os.File
	outR    *os.File
	errR    *os.File
	pumps   sync.WaitGroup
}

// newPipes makes stdin (when open) and stdout/stderr pipes; the child ends
// go to the runtime command.
func newPipes(openStdin bool) (*procIO, error) {
	p := &procIO{}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	stdinChild := devnull
	if openStdin {
		r, w, err := os.Pipe()
		if err != nil {
			devnull.Close()
			return nil, err
		}
		devnull.Close()
		stdinChild, p.stdin = r, w
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	p.child = []*os.File{stdinChild, outW, errW}
	p.outR, p.errR = outR, errR
	return p, nil
}

// nullIO is the stdio of a process with a terminal: the runtime command
// gets /dev/null, the process gets the pty.
func nullIO() (*procIO, error) {
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return &procIO{child: []*os.File{devnull, devnull, devnull}}, nil
}

func (p *procIO) closeChild() {
	seen := map[*os.File]bool{}
	for _, f := range p.child {
		if !seen[f] {
			f.Close()
			seen[f] = true
		}
	}
	p.child = nil
}

// closeStdin closes the process's stdin (EOF for it).
func (p *procIO) closeStdin() {
	p.stdinMu.Lock()
	defer p.stdinMu.Unlock()
	if p.stdin != nil && p.console == nil {
		p.stdin.Close()
		p.stdin = nil
	}
}

// writeStdin feeds the process.
func (p *procIO) writeStdin(b []byte) error {
	p.stdinMu.Lock()
	defer p.stdinMu.Unlock()
	if p.console != nil {
		_, err := p.console.Write(b)
		return err
	}
	if p.stdin == nil {
		return io.ErrClosedPipe
	}
	_, err := p.stdin.Write(b)
	return err
}

// pump copies output to the log and the attached clients until EOF.
func (p *procIO) startPumps(log *JSONLog, out *broadcaster) {
	if p.console != nil {
		p.pumps.Add(1)
		go pump(&p.pumps, p.console, StreamStdout, "stdout", log, out)
		return
	}
	p.pumps.Add(2)
	go pump(&p.pumps, p.outR, StreamStdout, "stdout", log, out)
	go pump(&p.pumps, p.errR, StreamStderr, "stderr", log, out)
}

func pump(wg *sync.WaitGroup, r io.ReadCloser, stream byte, name string, log *JSONLog, out *broadcaster) {
	defer wg.Done()
	defer r.Close()
	lw := &lineWriter{log: log, stream: name}
	buf := make([]byte, 32*1024)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			lw.write(buf[:n])
			out.write(stream, buf[:n])
		}
		if err != nil {
			break
		}
	}
	lw.flush()
}

// waitPumps waits until the output is drained, at most d (a process
// outside the container's pid namespace may hold the pipe open).
func (p *procIO) waitPumps(d time.Duration) {
	done := make(chan struct{})
	go func() { p.pumps.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		if p.outR != nil {
			p.outR.Close()
			p.errR.Close()
		}
	}
}

func (p *procIO) close() {
	p.closeStdin()
	p.stdinMu.Lock()
	if p.stdin != nil {
		p.stdin.Close()
		p.stdin = nil
	}
	p.stdinMu.Unlock()
}

// listenConsole opens the socket a runtime sends the pty master to.
func listenConsole(path string) (*net.UnixListener, error) {
	os.Remove(path)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	return l, nil
}

// receiveConsole accepts the runtime's connection and takes the pty master.
func receiveConsole(l *net.UnixListener) (*os.File, error) {
	if err := l.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return nil, err
	}
	conn, err := l.AcceptUnix()
	if err != nil {
		return nil, fmt.Errorf("accept console: %w", err)
	}
	defer conn.Close()
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4*4))
	_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, fmt.Errorf("receive console: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) == 0 {
		return nil, fmt.Errorf("receive console: no control message")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) == 0 {
		return nil, fmt.Errorf("receive console: no fd")
	}
	for _, fd := range fds[1:] {
		unix.Close(fd)
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		return nil, err
	}
	return os.NewFile(uintptr(fds[0]), "pty-master"), nil
}

// resize sets a pty's window size.
func resize(console *os.File, height, width uint16) error {
	if console == nil {
		return errors.New("process has no terminal")
	}
	rc, err := console.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		serr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: height, Col: width})
	})
	if err != nil {
		return err
	}
	return serr
}
