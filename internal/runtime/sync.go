package runtime

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Messages between the runtime (parent) and the container's init or exec'd
// process (child), one JSON object per line over a socketpair.
const (
	msgConfig = "config" // parent → child: what to set up
	msgHooks  = "hooks"  // child → parent: mounts done; run prestart/createRuntime hooks
	msgResume = "resume" // parent → child: hooks done, go on
	msgReady  = "ready"  // child → parent: set up; about to wait for start / exec
	msgError  = "error"  // child → parent: setup failed
)

type syncMsg struct {
	Type  string `json:"type"`
	Error string `json:"error,omitempty"`
	// Errno: the system call error behind Error, from the first stage.
	Errno  int         `json:"errno,omitempty"`
	Config *initConfig `json:"config,omitempty"`
}

// childError is an error a container process reported: its message, and
// the errno it carried, so that errors.Is works on it.
type childError struct {
	msg   string
	errno syscall.Errno
}

func (e *childError) Error() string { return e.msg }

func (e *childError) Unwrap() error {
	if e.errno == 0 {
		return nil
	}
	return e.errno
}

func (m syncMsg) err() error { return &childError{msg: m.Error, errno: syscall.Errno(m.Errno)} }

// initConfig is everything the child needs that is not in its environment.
type initConfig struct {
	Exec         bool           `json:"exec"`
	ContainerID  string         `json:"id"`
	Spec         *specs.Spec    `json:"spec"`
	Process      *specs.Process `json:"process"`
	Rootfs       string         `json:"rootfs"`
	NoPivot      bool           `json:"no_pivot,omitempty"`
	NoNewKeyring bool           `json:"no_new_keyring,omitempty"`
	// NewCgroupNS: unshare the cgroup namespace once placed in the cgroup.
	NewCgroupNS bool `json:"new_cgroupns,omitempty"`
	// CgroupPaths of the container, to bind into /sys/fs/cgroup when the
	// container has no cgroup namespace of its own.
	CgroupPaths map[string]string `json:"cgroup_paths,omitempty"`
	// PreserveFDs: fds 3..3+n-1 are passed through to the process.
	PreserveFDs int `json:"preserve_fds,omitempty"`
	// State for createContainer/startContainer hooks.
	State *specs.State `json:"state,omitempty"`
}

func writeMsg(w io.Writer, m syncMsg) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

// readMsg reads the next message (one line). The short ones a process
// reports on its way (`{"type":"ready"}`) are read without encoding/json,
// whose first decode in a process costs more than half a millisecond of a
// container's start.
func readMsg(r *bufio.Reader) (syncMsg, error) {
	var m syncMsg
	line, err := r.ReadBytes('\n')
	if err != nil && (err != io.EOF || len(line) == 0) {
		return m, err
	}
	if t, ok := bareType(line); ok {
		m.Type = t
		return m, nil
	}
	err = json.Unmarshal(line, &m)
	return m, err
}

// bareType returns T of a message that is exactly {"type":"T"} (with its
// newline), T plain ASCII.
func bareType(line []byte) (string, bool) {
	const prefix, suffix = `{"type":"`, "\"}\n"
	if !bytes.HasPrefix(line, []byte(prefix)) || !bytes.HasSuffix(line, []byte(suffix)) || len(line) < len(prefix)+len(suffix) {
		return "", false
	}
	t := line[len(prefix) : len(line)-len(suffix)]
	for _, c := range t {
		if c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
			return "", false
		}
	}
	return string(t), true
}

func expectMsg(r *bufio.Reader, want string) error {
	m, err := readMsg(r)
	if err != nil {
		if err == io.EOF {
			return fmt.Errorf("container init exited before reporting %q", want)
		}
		return fmt.Errorf("reading from container init: %w", err)
	}
	if m.Type == msgError {
		return m.err()
	}
	if m.Type != want {
		return fmt.Errorf("container init sent %q, expected %q", m.Type, want)
	}
	return nil
}
