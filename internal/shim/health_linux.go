package shim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Docker's healthcheck defaults.
const (
	defaultHealthInterval = 30 * time.Second
	defaultHealthTimeout  = 30 * time.Second
	defaultHealthRetries  = 3
	healthLogSize         = 5
	healthOutputMax       = 4096
)

// healthLoop probes the container until done is closed.
func (s *shim) healthLoop(done <-chan struct{}) {
	h := *s.cfg.Health
	if h.Interval <= 0 {
		h.Interval = defaultHealthInterval
	}
	if h.Timeout <= 0 {
		h.Timeout = defaultHealthTimeout
	}
	if h.Retries <= 0 {
		h.Retries = defaultHealthRetries
	}
	started := time.Now()
	for n := 0; ; n++ {
		wait := h.Interval
		inStart := time.Since(started) < h.StartPeriod
		if inStart && h.StartInterval > 0 {
			wait = h.StartInterval
		}
		select {
		case <-time.After(wait):
		case <-done:
			return
		}
		res := s.probe(h, n)
		inStart = res.Start.Sub(started) < h.StartPeriod
		s.mu.Lock()
		hs := s.state.Health
		if hs == nil || s.state.Status != StatusRunning {
			s.mu.Unlock()
			return
		}
		next := &Health{Status: hs.Status, FailingStreak: hs.FailingStreak, Log: append([]HealthResult(nil), hs.Log...)}
		next.Log = append(next.Log, res)
		if len(next.Log) > healthLogSize {
			next.Log = next.Log[len(next.Log)-healthLogSize:]
		}
		switch {
		case res.ExitCode == 0:
			next.Status, next.FailingStreak = HealthHealthy, 0
		case inStart && hs.Status == HealthStarting:
			// Failures during the start period do not count.
		default:
			next.FailingStreak++
			if next.FailingStreak >= h.Retries {
				next.Status = HealthUnhealthy
			}
		}
		s.state.Health = next
		s.mu.Unlock()
		s.publish()
	}
}

// probe runs the healthcheck command in the container once.
func (s *shim) probe(h HealthConfig, n int) HealthResult {
	res := HealthResult{Start: time.Now().UTC(), ExitCode: -1}
	args, err := probeArgs(h.Test)
	if err == nil {
		var proc []byte
		if proc, err = s.probeProcess(args); err == nil {
			res.ExitCode, res.Output, err = s.runProbe(proc, n, h.Timeout)
		}
	}
	if err != nil {
		res.Output = err.Error()
	}
	res.End = time.Now().UTC()
	return res
}

func probeArgs(test []string) ([]string, error) {
	if len(test) < 2 {
		return nil, fmt.Errorf("invalid healthcheck %q", test)
	}
	switch test[0] {
	case "CMD":
		return test[1:], nil
	case "CMD-SHELL":
		return []string{"/bin/sh", "-c", test[1]}, nil
	}
	return nil, fmt.Errorf("unknown healthcheck type %q", test[0])
}

// probeProcess is the container's process with the probe's argv and no
// terminal, as JSON for the runtime's exec.
func (s *shim) probeProcess(args []string) ([]byte, error) {
	b, err := os.ReadFile(s.path("config.json"))
	if err != nil {
		return nil, err
	}
	var spec struct {
		Process map[string]any `json:"process"`
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		return nil, err
	}
	p := spec.Process
	p["args"] = args
	p["terminal"] = false
	delete(p, "consoleSize")
	return json.Marshal(p)
}

// runProbe execs the probe and collects its output and exit code; after
// timeout it is killed and counts as failed.
func (s *shim) runProbe(proc []byte, n int, timeout time.Duration) (int, string, error) {
	out := &frameBuffer{}
	id := "health-" + strconv.Itoa(n)
	e, _, err := s.startExec(Request{ExecID: id, Process: proc}, out)
	if err != nil {
		return -1, "", err
	}
	defer func() {
		s.mu.Lock()
		delete(s.execs, id)
		s.mu.Unlock()
	}()
	select {
	case <-e.done:
	case <-time.After(timeout):
		syscall.Kill(e.pid, syscall.SIGKILL)
		<-e.done
		return -1, fmt.Sprintf("Health check exceeded timeout (%s)", timeout), nil
	}
	s.mu.Lock()
	code := e.exitCode
	s.mu.Unlock()
	return code, out.output(), nil
}

// frameBuffer takes the exec's reply line and frames and keeps the
// stdout/stderr payloads, up to healthOutputMax bytes.
type frameBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (f *frameBuffer) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buf.Write(p)
}

func (f *frameBuffer) output() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	data := f.buf.Bytes()
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		data = data[i+1:] // the JSON reply line
	}
	r := bytes.NewReader(data)
	var out []byte
	var buf []byte
	for {
		typ, p, err := ReadFrame(r, buf)
		if err != nil {
			break
		}
		buf = p
		if (typ == StreamStdout || typ == StreamStderr) && len(out) < healthOutputMax {
			out = append(out, p...)
		}
	}
	if len(out) > healthOutputMax {
		out = out[:healthOutputMax]
	}
	return string(out)
}
