// Package containers holds the container use cases of the engine: create,
// start, stop, attach, logs, exec and the rest, one file per operation. It
// drives one shim per running container and keeps records in the
// container store.
package containers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	eventtypes "github.com/moby/moby/api/types/events"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/engine/events"
	"github.com/berth-project/berth/internal/runtime"
	"github.com/berth-project/berth/internal/shim"
)

// Image is a resolved image: its ID, the reference it was found by and its
// runtime config.
type Image struct {
	ID     string
	Ref    string
	Config ocispec.ImageConfig
	// Healthcheck is the image's HEALTHCHECK, if any.
	Healthcheck *dockerspec.HealthcheckConfig
}

// Images is what containers need from the image store.
type Images interface {
	// Resolve finds the image a reference names.
	Resolve(ctx context.Context, ref string) (Image, error)
	// Mount makes the image's filesystem with the container's own writable
	// layer appear at target (creating the layer on first use).
	Mount(ctx context.Context, containerID, imageID, target string) error
	// Unmount undoes Mount; the writable layer stays.
	Unmount(ctx context.Context, containerID, target string) error
	// Release deletes the container's writable layer.
	Release(ctx context.Context, containerID string) error
}

// Volumes is what containers need from the volume service.
type Volumes interface {
	// Acquire returns the host path of volume name (creating it when it
	// does not exist; name "" creates an anonymous volume) and records
	// that containerID uses it.
	Acquire(ctx context.Context, name, containerID string) (vname, path string, err error)
	// Release drops containerID's use of the volume; remove deletes it
	// too (anonymous volumes on rm -v).
	Release(ctx context.Context, name, containerID string, remove bool) error
}

// Runtime is an OCI runtime with runc's command line.
type Runtime struct {
	Name   string
	Binary string
	Args   []string
	// Builtin marks berth's own runtime, which the engine and the shim
	// also use as a library (no runtime process per operation).
	Builtin bool
}

// Config configures the service.
type Config struct {
	// Root holds one directory per container (bundle, logs, shim state).
	Root string
	// ExecRoot holds shim sockets and the runtimes' state (short paths).
	ExecRoot string
	// Berth is the berth binary: the shim's helpers (`berth shim …`).
	Berth string
	// InitPath is berth-init on the host, mounted at /sbin/docker-init
	// for --init ("" when not available).
	InitPath string
	// Runtimes by name; DefaultRuntime names the default.
	Runtimes       map[string]Runtime
	DefaultRuntime string
	// CgroupParent is the cgroup (cgroupfs path) containers are put under,
	// each in <CgroupParent>/<id>; default "/berth".
	CgroupParent string
	// LogMaxSize and LogMaxFiles are the json-file defaults.
	LogMaxSize  int64
	LogMaxFiles int
	// Events receives the container events (nil: none are sent).
	Events *events.Bus
	// Network sets up containers' networks (nil: only none and host).
	Network Network
}

// Service implements the container operations.
type Service struct {
	cfg     Config
	store   *container.Store
	images  Images
	volumes Volumes

	mu       sync.Mutex
	locks    map[string]*sync.Mutex
	changed  map[string]chan struct{}
	exits    map[string]int // exits seen per container, for wait next-exit
	lastExit map[string]int // last exit code, kept a while after removal
	attaches map[string][]*pendingAttach
	execs    map[string]*execRecord
	monitors map[string]context.CancelFunc

	ctx    context.Context
	cancel context.CancelFunc
}

// New returns the service over its store and collaborators.
func New(cfg Config, store *container.Store, images Images, volumes Volumes) *Service {
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{
		cfg: cfg, store: store, images: images, volumes: volumes,
		locks:    map[string]*sync.Mutex{},
		changed:  map[string]chan struct{}{},
		exits:    map[string]int{},
		lastExit: map[string]int{},
		attaches: map[string][]*pendingAttach{},
		execs:    map[string]*execRecord{},
		monitors: map[string]context.CancelFunc{},
		ctx:      ctx, cancel: cancel,
	}
}

// Close stops monitoring shims; containers keep running.
func (s *Service) Close() { s.cancel() }

// lock serializes operations on one container.
func (s *Service) lock(id string) func() {
	s.mu.Lock()
	l, ok := s.locks[id]
	if !ok {
		l = &sync.Mutex{}
		s.locks[id] = l
	}
	s.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// getLocked resolves ref and locks the container; c is its record as
// read under the lock, unlock releases it.
func (s *Service) getLocked(ref string) (c *container.Container, unlock func(), err error) {
	if c, err = s.store.Get(ref); err != nil {
		return nil, nil, err
	}
	unlock = s.lock(c.ID)
	if c, err = s.store.Get(c.ID); err != nil {
		unlock()
		return nil, nil, err
	}
	return c, unlock, nil
}

// changes returns a channel closed at the container's next change.
func (s *Service) changes(id string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.changed[id]
	if !ok {
		ch = make(chan struct{})
		s.changed[id] = ch
	}
	return ch
}

func (s *Service) notify(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.changed[id]; ok {
		close(ch)
		delete(s.changed, id)
	}
}

// save stores c and wakes waiters.
func (s *Service) save(c *container.Container) error {
	if err := s.store.Update(c); err != nil {
		return err
	}
	s.notify(c.ID)
	return nil
}

func (s *Service) shimSocket(id string) string {
	return filepath.Join(s.cfg.ExecRoot, "shim", id+".sock")
}

func (s *Service) shimClient(id string) shim.Client { return shim.Client{Socket: s.shimSocket(id)} }

func (s *Service) runtimeFor(c *container.Container) (Runtime, error) {
	name := c.Runtime
	if name == "" {
		name = s.cfg.DefaultRuntime
	}
	rt, ok := s.cfg.Runtimes[name]
	if !ok {
		if filepath.IsAbs(name) {
			return Runtime{Name: name, Binary: name}, nil
		}
		return Runtime{}, fmt.Errorf("unknown runtime %q", name)
	}
	return rt, nil
}

func (s *Service) runtimeRoot(rt Runtime) string {
	return filepath.Join(s.cfg.ExecRoot, "runtime", filepath.Base(rt.Name))
}

func (s *Service) shimRuntime(c *container.Container) (shim.Runtime, error) {
	rt, err := s.runtimeFor(c)
	if err != nil {
		return shim.Runtime{}, err
	}
	return shim.Runtime{Binary: rt.Binary, Args: rt.Args, Root: s.runtimeRoot(rt)}, nil
}

// emit publishes a container event with Docker's attributes (name, image,
// labels) plus extra.
func (s *Service) emit(c *container.Container, action eventtypes.Action, extra map[string]string) {
	if s.cfg.Events == nil {
		return
	}
	attrs := map[string]string{"name": c.Name, "image": c.Image}
	if c.Config != nil {
		for k, v := range c.Config.Labels {
			attrs[k] = v
		}
	}
	for k, v := range extra {
		attrs[k] = v
	}
	s.cfg.Events.Publish(eventtypes.ContainerEventType, action, c.ID, attrs)
}

// Get returns a copy of the container ref names.
func (s *Service) Get(ref string) (*container.Container, error) { return s.store.Get(ref) }

// List returns all containers, newest first.
func (s *Service) List() []*container.Container { return s.store.List() }

// deleteRuntimeState deletes what the runtime keeps of a container that
// no longer runs (its state, cgroup, leftover processes): in process for
// berth's runtime, with `runtime delete --force` for others. A container
// the runtime does not know is left alone.
func (s *Service) deleteRuntimeState(c *container.Container) error {
	rt, err := s.runtimeFor(c)
	if err != nil {
		return err
	}
	root := s.runtimeRoot(rt)
	if _, err := os.Stat(filepath.Join(root, c.ID)); os.IsNotExist(err) {
		return nil
	}
	if rt.Builtin {
		err := (&runtime.Runtime{Root: root}).Delete(c.ID, true)
		if err != nil && !errors.Is(err, runtime.ErrNotExist) {
			return err
		}
		return nil
	}
	argv := shim.Runtime{Binary: rt.Binary, Args: rt.Args, Root: root}.Argv("delete", "--force", c.ID)
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		if _, serr := os.Stat(filepath.Join(root, c.ID)); os.IsNotExist(serr) {
			return nil
		}
		return fmt.Errorf("runtime delete: %s", strings.TrimSpace(string(out)))
	}
	return nil
}
