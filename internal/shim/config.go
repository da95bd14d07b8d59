// Package shim is berth's per-container supervisor: one small process per
// container that runs the OCI runtime, holds the container's stdio (pipes or
// a pty), writes its log, reaps its init, records how it exited, applies the
// restart policy and serves attach/exec/kill requests over a unix socket.
// It keeps working while the daemon is down.
//
// The package imports only the standard library and x/sys so that the shim
// stays small; the daemon side of the protocol (Launch, Client) lives here
// too.
package shim

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Config is what the daemon tells a shim, written as JSON next to the
// bundle before the shim starts.
type Config struct {
	ID     string
	Bundle string // directory with config.json and rootfs
	// Runtime is the OCI runtime binary; RuntimeArgs come before runc's
	// global flags (e.g. ["runtime"] when the binary is berth itself).
	Runtime     string
	RuntimeArgs []string
	RuntimeRoot string
	Socket      string // where the shim serves its protocol
	StateFile   string
	LogPath     string // json-file log; empty disables logging
	LogMaxSize  int64  // bytes before rotation; 0 never rotates
	LogMaxFiles int    // files kept including the current one
	Terminal    bool
	OpenStdin   bool
	StdinOnce   bool
	Restart     RestartPolicy
	// RestartCount is the count to continue from (0 on a user start).
	RestartCount int
	// Health, when set, is the healthcheck the shim runs.
	Health *HealthConfig `json:",omitempty"`
}

// HealthConfig is a healthcheck: Test is ["CMD", args...] or
// ["CMD-SHELL", command]; zero durations take Docker's defaults (30s
// interval and timeout, 3 retries).
type HealthConfig struct {
	Test          []string
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

// State is what the shim records about its container; it writes it
// atomically to Config.StateFile on every change.
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

// ReadConfig loads a shim config.
func ReadConfig(path string) (*Config, error) {
	var c Config
	if err := readJSON(path, &c); err != nil {
		return nil, fmt.Errorf("read shim config: %w", err)
	}
	return &c, nil
}

// WriteConfig stores a shim config atomically.
func WriteConfig(path string, c *Config) error { return writeJSONAtomic(path, c) }

// ReadState loads the state a shim recorded.
func ReadState(path string) (*State, error) {
	var s State
	if err := readJSON(path, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// WriteState stores a state atomically (temp file, fsync, rename).
func WriteState(path string, s *State) error { return writeJSONAtomic(path, s) }

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	return nil
}

func writeJSONAtomic(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Sync(); err != nil {
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
