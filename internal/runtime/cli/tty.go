package cli

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// ttyProxy stands in for a console socket when a foreground run or exec
// asks for a terminal without one (as runc does): it receives the pty
// master and copies it to and from our stdio, with our terminal in raw mode.
type ttyProxy struct {
	dir    string
	ln     *net.UnixListener
	master chan *os.File
	done   chan struct{}
	saved  *unix.Termios
}

func newTTYProxy() (*ttyProxy, error) {
	dir, err := os.MkdirTemp("", "berth-console")
	if err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "sock"), Net: "unix"})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("console socket: %w", err)
	}
	p := &ttyProxy{dir: dir, ln: ln, master: make(chan *os.File, 1), done: make(chan struct{})}
	go p.accept()
	return p, nil
}

func (p *ttyProxy) path() string { return filepath.Join(p.dir, "sock") }

func (p *ttyProxy) accept() {
	defer close(p.done)
	conn, err := p.ln.AcceptUnix()
	if err != nil {
		return
	}
	defer conn.Close()
	buf := make([]byte, 256)
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) == 0 {
		return
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) == 0 {
		return
	}
	master := os.NewFile(uintptr(fds[0]), "pty-master")
	if ws, err := unix.IoctlGetWinsize(int(os.Stdin.Fd()), unix.TIOCGWINSZ); err == nil {
		_ = unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, ws)
	}
	if t, err := unix.IoctlGetTermios(int(os.Stdin.Fd()), unix.TCGETS); err == nil {
		saved := *t
		p.saved = &saved
		raw := *t
		raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		raw.Oflag &^= unix.OPOST
		raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		raw.Cflag &^= unix.CSIZE | unix.PARENB
		raw.Cflag |= unix.CS8
		_ = unix.IoctlSetTermios(int(os.Stdin.Fd()), unix.TCSETS, &raw)
	}
	go func() { _, _ = io.Copy(master, os.Stdin) }()
	_, _ = io.Copy(os.Stdout, master) // ends with EIO when the last slave closes
	master.Close()
}

// close waits briefly for the output to drain, restores the terminal and
// removes the socket.
func (p *ttyProxy) close() {
	p.ln.Close()
	select {
	case <-p.done:
	case <-time.After(2 * time.Second):
	}
	if p.saved != nil {
		_ = unix.IoctlSetTermios(int(os.Stdin.Fd()), unix.TCSETS, p.saved)
	}
	os.RemoveAll(p.dir)
}
