// Package shim holds berth's per-container supervisor: berth-shim, a
// small static C program (csrc/, embedded in the berth binary as
// berth-shim, rebuilt with `go generate`) that holds the container's stdio
// and TTY, writes its log (json-file or local, rotated), reaps its init,
// records exit code, OOM kill and times, applies the restart policy, runs
// healthchecks and serves the daemon's small protocol on a unix socket,
// without the daemon. An idle berth-shim costs a few pages, where a Go
// supervisor costs megabytes.
//
// This package is the Go side: the config the daemon writes (WriteConfig),
// the state the shim records (ReadState), starting a shim (Launch), the
// protocol's client (Client), and `berth shim …`, the helpers the C shim
// execs for heavy work (creating a container with berth's runtime in one
// process, compressing a rotated log).
package shim

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is what the daemon tells a shim, written next to the bundle
// before the shim starts.
type Config struct {
	ID     string
	Bundle string // directory with config.json and rootfs
	// Runtime is the OCI runtime binary; RuntimeArgs come before runc's
	// global flags (e.g. ["runtime"] when the binary is berth itself).
	Runtime     string
	RuntimeArgs []string
	RuntimeRoot string
	// Helper, when set, is the berth binary: the shim then creates and
	// starts the container with `Helper shim create` (berth's runtime as a
	// library, one process) instead of `runtime create` and `runtime start`.
	Helper string
	// Berth is the berth binary for the other helpers (log compression).
	Berth     string
	Socket    string // where the shim serves its protocol
	StateFile string
	// LogDriver is "json-file", "local" or "none"; LogPath is its file.
	LogDriver   string
	LogPath     string
	LogMaxSize  int64 // bytes before rotation; 0 never rotates
	LogMaxFiles int   // files kept including the current one
	// LogCompress gzips rotated files of the local driver.
	LogCompress bool
	Terminal    bool
	OpenStdin   bool
	StdinOnce   bool
	Restart     RestartPolicy
	// RestartCount is the count to continue from (0 on a user start).
	RestartCount int
	// Health, when set, is the healthcheck the shim runs.
	Health *HealthConfig
	// DeleteOnExit makes the shim run `runtime delete` when the container
	// is done; otherwise the daemon deletes it.
	DeleteOnExit bool
}

// HealthConfig is a healthcheck: Process is the file with the probe's OCI
// process (the container's process with the probe's argv); zero durations
// take Docker's defaults (30s interval and timeout, 3 retries).
type HealthConfig struct {
	Process       string
	Interval      time.Duration
	Timeout       time.Duration
	StartPeriod   time.Duration
	StartInterval time.Duration
	Retries       int
}

// Health statuses.
const (
	HealthStarting  = "starting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// Health is the healthcheck state: status, consecutive failures and the
// last results.
type Health struct {
	Status        string
	FailingStreak int
	Log           []HealthResult
}

// HealthResult is one probe.
type HealthResult struct {
	Start, End time.Time
	ExitCode   int
	Output     string
}

// RestartPolicy is Docker's restart policy: "no", "always",
// "unless-stopped" or "on-failure" with MaxRetries (0 = unlimited).
type RestartPolicy struct {
	Name       string
	MaxRetries int
}

// Status values of State.
const (
	StatusCreated    = "created"
	StatusRunning    = "running"
	StatusRestarting = "restarting"
	StatusExited     = "exited"
)

// State is what the shim records about its container; it writes it as
// JSON to Config.StateFile on every change (a temp file and rename; no
// fsync: it describes processes, which a reboot ends anyway).
type State struct {
	Status       string
	Pid          int
	ExitCode     int
	OOMKilled    bool
	Error        string `json:",omitempty"`
	StartedAt    time.Time
	FinishedAt   time.Time
	RestartCount int
	// ManuallyStopped is set when a stop/kill request ended the container.
	ManuallyStopped bool
	// ShimPid is the supervisor's own pid.
	ShimPid int
	// Health is the healthcheck state while the container runs.
	Health *Health `json:",omitempty"`
}

// WriteConfig stores a shim config in the shim's format: one "key value"
// line per setting.
func WriteConfig(path string, c *Config) error {
	var b strings.Builder
	put := func(k, v string) error {
		if strings.ContainsAny(v, "\n\x00") {
			return fmt.Errorf("shim config: %s %q contains a newline or NUL", k, v)
		}
		b.WriteString(k + " " + v + "\n")
		return nil
	}
	flag := func(v bool) string {
		if v {
			return "1"
		}
		return "0"
	}
	kv := [][2]string{
		{"id", c.ID}, {"bundle", c.Bundle}, {"runtime", c.Runtime}, {"runtime-root", c.RuntimeRoot},
		{"socket", c.Socket}, {"state", c.StateFile},
		{"terminal", flag(c.Terminal)}, {"open-stdin", flag(c.OpenStdin)}, {"stdin-once", flag(c.StdinOnce)},
		{"restart-count", strconv.Itoa(c.RestartCount)}, {"delete-on-exit", flag(c.DeleteOnExit)},
	}
	for _, a := range c.RuntimeArgs {
		kv = append(kv, [2]string{"runtime-arg", a})
	}
	if c.Helper != "" {
		kv = append(kv, [2]string{"helper", c.Helper})
	}
	if c.Berth != "" {
		kv = append(kv, [2]string{"berth", c.Berth})
	}
	driver := c.LogDriver
	if driver == "" {
		driver = "json-file"
	}
	if c.LogPath == "" {
		driver = "none"
	}
	kv = append(kv, [2]string{"log-driver", driver})
	if driver != "none" {
		kv = append(kv, [2]string{"log-path", c.LogPath},
			[2]string{"log-max-size", strconv.FormatInt(c.LogMaxSize, 10)},
			[2]string{"log-max-files", strconv.Itoa(c.LogMaxFiles)},
			[2]string{"log-compress", flag(c.LogCompress)})
	}
	if c.Restart.Name != "" {
		kv = append(kv, [2]string{"restart", c.Restart.Name}, [2]string{"restart-max", strconv.Itoa(c.Restart.MaxRetries)})
	}
	if h := c.Health; h != nil {
		kv = append(kv, [2]string{"health-process", h.Process},
			[2]string{"health-interval", strconv.FormatInt(int64(h.Interval), 10)},
			[2]string{"health-timeout", strconv.FormatInt(int64(h.Timeout), 10)},
			[2]string{"health-start-period", strconv.FormatInt(int64(h.StartPeriod), 10)},
			[2]string{"health-start-interval", strconv.FormatInt(int64(h.StartInterval), 10)},
			[2]string{"health-retries", strconv.Itoa(h.Retries)})
	}
	for _, p := range kv {
		if err := put(p[0], p[1]); err != nil {
			return err
		}
	}
	return writeFileAtomic(path, []byte(b.String()))
}

// ReadState loads the state a shim recorded.
func ReadState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	return &s, nil
}

// writeFileAtomic writes through a temp file and a rename, without fsync:
// shim configs and states describe processes, which do not survive a
// reboot either.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}
