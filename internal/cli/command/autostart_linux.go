package command

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Default locations of the daemon the CLI starts by itself.
const (
	DefaultHost     = "unix:///run/berth/berth.sock"
	DefaultDataRoot = "/var/lib/berth"
)

// autoStartTimeout bounds the wait for a daemon we started.
const autoStartTimeout = 20 * time.Second

// EnsureDaemon starts `berth daemon` in the background when nothing
// answers on the unix socket host, and waits until it answers /_ping. The
// daemon keeps its state in $BERTH_DATA_ROOT (default /var/lib/berth,
// where it also logs to daemon.log) and its sockets in $BERTH_EXEC_ROOT
// (default /run/berth). Concurrent CLIs serialize on a lock file next to
// the socket so that only one daemon starts.
func EnsureDaemon(ctx context.Context, host string) error {
	path, ok := strings.CutPrefix(host, "unix://")
	if !ok {
		return nil
	}
	if ping(path) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
		return fmt.Errorf("cannot start the daemon: %w", err)
	}
	lock, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("cannot start the daemon: %w", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("cannot start the daemon: %w", err)
	}
	defer unix.Flock(int(lock.Fd()), unix.LOCK_UN)
	if ping(path) {
		return nil
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cannot start the daemon: %w", err)
	}
	dataRoot := DefaultDataRoot
	if v := os.Getenv("BERTH_DATA_ROOT"); v != "" {
		dataRoot = v
	}
	if err := os.MkdirAll(dataRoot, 0o711); err != nil {
		return fmt.Errorf("cannot start the daemon: %w", err)
	}
	logPath := filepath.Join(dataRoot, "daemon.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("cannot start the daemon: %w", err)
	}
	defer logf.Close()
	args := []string{"daemon", "--host", host, "--data-root", dataRoot}
	if v := os.Getenv("BERTH_EXEC_ROOT"); v != "" {
		args = append(args, "--exec-root", v)
	}
	cmd := exec.Command(self, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot start the daemon: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(autoStartTimeout)
	for time.Now().Before(deadline) {
		if ping(path) {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("the daemon exited at start (%v); see %s", err, logPath)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("the daemon did not answer within %s; see %s", autoStartTimeout, logPath)
}

// ping sends GET /_ping over the socket.
func ping(path string) bool {
	conn, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("GET /_ping HTTP/1.0\r\nHost: berth\r\n\r\n")); err != nil {
		return false
	}
	buf := make([]byte, 64)
	n, _ := conn.Read(buf)
	return strings.HasPrefix(string(buf[:n]), "HTTP/1.") && strings.Contains(string(buf[:n]), " 200 ")
}
