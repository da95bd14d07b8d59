package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// timeCmd runs argv with stdin from /dev/null and returns how long it took,
// from just before the start to the end of the wait. The command runs in its
// own process group, killed as a whole after timeout or when parent is
// done. On failure the error
// carries the tail of its output.
func timeCmd(parent context.Context, timeout time.Duration, argv ...string) (time.Duration, error) {
	return timeCmdWith(parent, timeout, nil, argv...)
}

// timeCmdWith is timeCmd that also reports the command's maximum resident
// set size in bytes to rss (when not nil).
func timeCmdWith(parent context.Context, timeout time.Duration, rss func(int64), argv ...string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if rss != nil && cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			rss(ru.Maxrss << 10)
		}
	}
	if err != nil {
		if errors.Is(parent.Err(), context.Canceled) {
			err = fmt.Errorf("interrupted: %w", err)
		} else if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("timed out after %s: %w", timeout, err)
		}
		return d, fmt.Errorf("%s: %w%s", strings.Join(argv, " "), err, outputTail(out.String()))
	}
	return d, nil
}

// output runs argv and returns its trimmed standard output.
func output(timeout time.Duration, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w%s", strings.Join(argv, " "), err, outputTail(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// outputTail formats the last lines of a failed command's output for an
// error message.
func outputTail(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return ": " + strings.Join(lines, " / ")
}

// firstLine returns the first line of s.
func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(line)
}
