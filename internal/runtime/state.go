package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/internal/runtime/kfile"
	"github.com/berth-project/berth/internal/runtime/specjson"
)

// Status is a container's lifecycle state as the OCI runtime spec names it.
type Status string

const (
	Creating Status = "creating"
	Created  Status = "created"
	Running  Status = "running"
	Paused   Status = "paused"
	Stopped  Status = "stopped"
)

// ErrNotExist is returned (wrapped) for a container ID that has no state.
var ErrNotExist = errors.New("container does not exist")

// ErrExist is returned (wrapped) when creating an ID that is taken.
var ErrExist = errors.New("container already exists")

// record is what the runtime keeps on disk per container (root/<id>/state.json).
type record struct {
	ID            string    `json:"id"`
	InitPid       int       `json:"init_pid"`
	InitStartTime uint64    `json:"init_start_time"`
	Bundle        string    `json:"bundle"`
	Rootfs        string    `json:"rootfs"`
	Created       time.Time `json:"created"`
	Owner         string    `json:"owner"`
	// Config is the container's spec: config.json as given at create, or
	// re-encoded after a change (update).
	Config      json.RawMessage   `json:"config"`
	CgroupPaths map[string]string `json:"cgroup_paths,omitempty"`

	// Config decoded, lazily: most commands need a few of its fields, and
	// the first decode of a whole specs.Spec in a process costs about half
	// a millisecond (encoding/json prepares the whole type graph).
	spec *specs.Spec
	some *specSome
}

// specSome are the fields of a spec that state, start, kill and delete
// need.
type specSome struct {
	Annotations map[string]string `json:"annotations"`
	Hooks       *specs.Hooks      `json:"hooks"`
	Linux       *struct {
		CgroupsPath string                 `json:"cgroupsPath"`
		Namespaces  []specs.LinuxNamespace `json:"namespaces"`
	} `json:"linux"`
}

// fullSpec decodes the whole spec.
func (rec *record) fullSpec() (*specs.Spec, error) {
	if rec.spec == nil {
		var s specs.Spec
		if err := specjson.Unmarshal(rec.Config, &s); err != nil {
			return nil, fmt.Errorf("parse the config of %q: %w", rec.ID, err)
		}
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		rec.spec = &s
	}
	return rec.spec, nil
}

// someSpec decodes what specSome holds (nothing of a record without a
// valid config: this runtime wrote it).
func (rec *record) someSpec() *specSome {
	if rec.some == nil {
		rec.some = &specSome{}
		if rec.spec != nil {
			rec.some.Annotations, rec.some.Hooks = rec.spec.Annotations, rec.spec.Hooks
			if l := rec.spec.Linux; l != nil {
				rec.some.Linux = &struct {
					CgroupsPath string                 `json:"cgroupsPath"`
					Namespaces  []specs.LinuxNamespace `json:"namespaces"`
				}{l.CgroupsPath, l.Namespaces}
			}
		} else if len(rec.Config) > 0 {
			_ = json.Unmarshal(rec.Config, rec.some)
		}
	}
	return rec.some
}

// ownPidNamespace: the container's init had a pid namespace of its own.
// When such an init has died, the kernel has killed every other process
// of the namespace.
func (rec *record) ownPidNamespace() bool {
	if l := rec.someSpec().Linux; l != nil {
		for _, ns := range l.Namespaces {
			if ns.Type == specs.PIDNamespace {
				return ns.Path == ""
			}
		}
	}
	return false
}

// setSpec changes the spec the record keeps.
func (rec *record) setSpec(s *specs.Spec) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	rec.Config, rec.spec, rec.some = b, s, nil
	return nil
}

// State is the OCI state of a container plus runc's extra fields, the JSON
// `state` and `list -f json` print.
type State struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Pid         int               `json:"pid"`
	Status      Status            `json:"status"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     time.Time         `json:"created"`
	Owner       string            `json:"owner"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

func (r *Runtime) dir(id string) string { return filepath.Join(r.Root, id) }

func (r *Runtime) load(id string) (*record, error) {
	if err := validateID(id); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(r.dir(id), "state.json"))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("container %q: %w", id, ErrNotExist)
		}
		return nil, fmt.Errorf("read state of %q: %w", id, err)
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("parse state of %q: %w", id, err)
	}
	return &rec, nil
}

func (r *Runtime) save(rec *record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	dir := r.dir(rec.ID)
	tmp := filepath.Join(dir, ".state.json.tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "state.json")); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

func validateID(id string) error {
	if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/\x00") || len(id) > 1024 {
		return fmt.Errorf("invalid container id %q", id)
	}
	return nil
}

// procStat returns the start time (clock ticks since boot) and state letter
// of pid, or ok=false when it does not exist.
func procStat(pid int) (start uint64, state byte, ok bool) {
	if pid <= 0 {
		return 0, 0, false
	}
	b, err := kfile.Read("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return 0, 0, false
	}
	fields := strings.Fields(s[i+2:])
	// fields[0] is field 3 (state); starttime is field 22.
	if len(fields) < 20 {
		return 0, 0, false
	}
	start, err = strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return start, fields[0][0], true
}

// initAlive says whether the container's init is still the process we
// started (same pid and start time) and not a zombie.
func (rec *record) initAlive() bool {
	start, st, ok := procStat(rec.InitPid)
	return ok && start == rec.InitStartTime && st != 'Z' && st != 'X'
}

func (r *Runtime) status(rec *record) Status {
	if !rec.initAlive() {
		return Stopped
	}
	if _, err := os.Lstat(filepath.Join(r.dir(rec.ID), execFifoName)); err == nil {
		return Created
	}
	if m, err := r.cgroupManager(rec); err == nil {
		if st, err := m.FreezerState(); err == nil && st == "FROZEN" {
			return Paused
		}
	}
	return Running
}

func (r *Runtime) ociState(rec *record) *State {
	st := r.status(rec)
	pid := rec.InitPid
	if st == Stopped {
		pid = 0
	}
	ann := rec.someSpec().Annotations
	return &State{
		OCIVersion: specs.Version, ID: rec.ID, Pid: pid, Status: st, Bundle: rec.Bundle,
		Rootfs: rec.Rootfs, Created: rec.Created, Owner: rec.Owner, Annotations: ann,
	}
}

// specState is the state hooks receive on stdin.
func (r *Runtime) specState(rec *record, st Status) *specs.State {
	ann := rec.someSpec().Annotations
	pid := rec.InitPid
	if st == Stopped {
		pid = 0
	}
	return &specs.State{Version: specs.Version, ID: rec.ID, Status: specs.ContainerState(st), Pid: pid, Bundle: rec.Bundle, Annotations: ann}
}
