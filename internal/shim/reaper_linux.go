package shim

import (
	"os"
	"os/signal"
	"sync"

	"golang.org/x/sys/unix"
)

// reaper collects every child's exit (the shim is a subreaper, so the
// container's init and exec'd processes are its children) and hands exit
// codes to whoever waits for that pid.
type reaper struct {
	mu      sync.Mutex
	waiters map[int]chan int
	exited  map[int]int
}

func newReaper() *reaper {
	r := &reaper{waiters: map[int]chan int{}, exited: map[int]int{}}
	sig := make(chan os.Signal, 64)
	signal.Notify(sig, unix.SIGCHLD)
	go func() {
		for range sig {
			r.reap()
		}
	}()
	return r
}

func (r *reaper) reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
		code := exitCode(ws)
		r.mu.Lock()
		if ch, ok := r.waiters[pid]; ok {
			ch <- code
			delete(r.waiters, pid)
		} else {
			r.exited[pid] = code
		}
		r.mu.Unlock()
	}
}

func exitCode(ws unix.WaitStatus) int {
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return 255
}

// start runs argv with files as fds 0.. and returns a channel that gets
// its exit code.
func (r *reaper) start(argv []string, files []*os.File, setsid bool) (int, <-chan int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	attr := &os.ProcAttr{Files: files}
	if setsid {
		attr.Sys = &unix.SysProcAttr{Setsid: true}
	}
	p, err := os.StartProcess(argv[0], argv, attr)
	if err != nil {
		return 0, nil, err
	}
	pid := p.Pid
	p.Release()
	ch := make(chan int, 1)
	r.waiters[pid] = ch
	return pid, ch, nil
}

// watch returns a channel that gets pid's exit code, also when it already
// exited.
func (r *reaper) watch(pid int) <-chan int {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := make(chan int, 1)
	if code, ok := r.exited[pid]; ok {
		delete(r.exited, pid)
		ch <- code
		return ch
	}
	r.waiters[pid] = ch
	return ch
}
