// Package build is the use case behind POST /build: it receives the
// context, runs internal/build against a backend made of the image store,
// the snapshotter and berth's runtime, stores and tags the image, and
// keeps the build cache (records that survive restarts, prune, disk usage).
package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/sys/mountinfo"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/build"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/image/platform"
	"github.com/berth-project/berth/internal/mount"
	"github.com/berth-project/berth/internal/runtime"
	"github.com/berth-project/berth/internal/snapshot"
)

// Config wires the build service.
type Config struct {
	Root         string // persistent state: cache records, cache mounts, work dirs
	ExecRoot     string // runtime state of step containers and secrets (tmpfs)
	RuntimeRoot  string // default ExecRoot/build/runtime
	Store        *image.Store
	Snapshotter  snapshot.Snapshotter
	CgroupParent string // parent cgroup of step containers (default /berth)
	// DefaultNetwork is what RUN's "default" network means when there is
	// no Network: "host".
	DefaultNetwork string
	// Network, when set, puts RUN steps of the "default" network on the
	// default bridge network, as Docker does.
	Network StepNetwork
	// Pull, when set, pulls an image that FROM (or --from) names and the
	// store lacks (always with --pull); auth is an X-Registry-Auth value.
	Pull PullFunc
}

// StepNetwork attaches build steps to the default bridge network.
type StepNetwork interface {
	// Attach sets up the network of step id: its /etc/hostname, hosts and
	// resolv.conf written into dir, and the network namespace it joins.
	// release undoes it.
	Attach(ctx context.Context, id, hostname, dir string) (netns string, release func(), err error)
}

// SetNetwork sets the bridge network of RUN steps (the daemon makes it
// after the build service).
func (svc *Service) SetNetwork(n StepNetwork) {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	svc.cfg.Network = n
}

func (svc *Service) stepNetwork() StepNetwork {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	return svc.cfg.Network
}

// PullFunc pulls ref for platform p, writing Docker's JSON progress to out.
type PullFunc func(ctx context.Context, ref string, p ocispec.Platform, auth string, out io.Writer) error

// SetPull sets the puller (the daemon makes it after the build service).
func (svc *Service) SetPull(f PullFunc) {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	svc.cfg.Pull = f
}

func (svc *Service) puller() PullFunc {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	return svc.cfg.Pull
}

// Service runs builds.
type Service struct {
	cfg   Config
	cache *cacheStore
	http  *http.Client
	wg    sync.WaitGroup // background record updates
	// chunks is the memory build contexts are spooled into.
	chunks chunkPool

	mu         sync.Mutex
	cacheLocks map[string]*sync.Mutex
}

// New opens the build service; leftovers of builds a crash interrupted
// (work directories) are removed.
func New(cfg Config) (*Service, error) {
	if cfg.RuntimeRoot == "" {
		cfg.RuntimeRoot = filepath.Join(cfg.ExecRoot, "build", "runtime")
	}
	if cfg.DefaultNetwork == "" {
		cfg.DefaultNetwork = "host"
	}
	cache, err := openCache(filepath.Join(cfg.Root, "cache"))
	if err != nil {
		return nil, err
	}
	work := filepath.Join(cfg.Root, "work")
	if err := cleanupCrashed(cfg, work); err != nil {
		return nil, err
	}
	for _, d := range []string{work, filepath.Join(cfg.Root, "mounts"), cfg.RuntimeRoot} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("build: %w", err)
		}
	}
	return &Service{cfg: cfg, cache: cache, http: &http.Client{Timeout: 10 * time.Minute}}, nil
}

// touch records uses of cache records in the background (for prune order
// and disk usage); nothing waits for it.
func (svc *Service) touch(keys []digest.Digest, now time.Time) {
	svc.wg.Add(1)
	go func() {
		defer svc.wg.Done()
		for _, k := range keys {
			svc.cache.touch(k, now)
		}
	}()
}

// Close waits for background work.
func (svc *Service) Close() error {
	svc.wg.Wait()
	return nil
}

// cleanupCrashed removes what builds of a daemon that died left: step
// containers (killed), mounts and work directories, and the build's
// active snapshots. (Committed layers of unfinished builds are removed by
// the snapshot and content batch recovery; their cache records were never
// written.)
func cleanupCrashed(cfg Config, work string) error {
	rt := &runtime.Runtime{Root: cfg.RuntimeRoot}
	if states, err := rt.List(); err == nil {
		for _, st := range states {
			_ = rt.Kill(st.ID, unix.SIGKILL, true)
			if err := rt.Delete(st.ID, true); err != nil {
				return fmt.Errorf("build: remove the step container %s of an earlier daemon: %w", st.ID, err)
			}
		}
	}
	if mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(work)); err == nil {
		sort.Slice(mounts, func(i, j int) bool { return len(mounts[i].Mountpoint) > len(mounts[j].Mountpoint) })
		for _, m := range mounts {
			if err := mount.UnmountAll(m.Mountpoint); err != nil {
				return fmt.Errorf("build: %w", err)
			}
		}
	}
	if err := os.RemoveAll(work); err != nil {
		return fmt.Errorf("build: remove stale work dirs: %w", err)
	}
	ctx := context.Background()
	var stale []string
	_ = cfg.Snapshotter.Walk(ctx, func(i snapshot.Info) error {
		if i.Kind != snapshot.KindCommitted && strings.HasPrefix(i.Name, "build-") {
			stale = append(stale, i.Name)
		}
		return nil
	})
	for _, k := range stale {
		if err := cfg.Snapshotter.Remove(ctx, k); err != nil && !errors.Is(err, snapshot.ErrNotFound) {
			return fmt.Errorf("build: remove the snapshot %s of an unfinished build: %w", k, err)
		}
	}
	return nil
}

func (svc *Service) cgroupParent() string {
	if svc.cfg.CgroupParent == "" {
		return "/berth"
	}
	return svc.cfg.CgroupParent
}

func (svc *Service) secretDir() string {
	d := filepath.Join(svc.cfg.ExecRoot, "build", "secrets")
	os.MkdirAll(d, 0o700)
	return d
}

// Request is one build.
type Request struct {
	Context    io.Reader // tar of the build context (may be compressed)
	Dockerfile string    // path in the context; default "Dockerfile"
	Remote     string    // remote context URL (not supported)
	Tags       []string
	BuildArgs  map[string]*string
	Labels     map[string]string
	Target     string
	NoCache    bool
	Pull       bool
	Network    string // RUN's network: "default", "none", "host"
	Platform   string
	Secrets    map[string][]byte
	// RegistryConfig is the X-Registry-Config header: base64 of a JSON
	// map of registry to auth config, for pulling base images.
	RegistryConfig string
}

// Result is a finished build.
type Result struct {
	ID   digest.Digest // image ID (config digest)
	Tags []string      // normalised names it was tagged with
}

// Build runs req, writing progress text to out.
func (svc *Service) Build(ctx context.Context, req Request, out io.Writer) (Result, error) {
	if req.Remote != "" {
		return Result{}, errdefs.NotImplemented(errors.New("remote build contexts are not supported: send the context as a tar"))
	}
	plat := platform.Host()
	if req.Platform != "" {
		p, err := platform.Parse(req.Platform)
		if err != nil {
			return Result{}, errdefs.InvalidArgumentf("invalid platform %q: %w", req.Platform, err)
		}
		if !platform.Default().Match(p) {
			return Result{}, errdefs.InvalidArgumentf("platform %s is not supported: this host builds %s only", req.Platform, platform.Format(plat))
		}
		plat = platform.Normalize(p)
	}
	switch req.Network {
	case "", "default", "none", "host":
	case "bridge":
		req.Network = "default"
	default:
		return Result{}, errdefs.InvalidArgumentf("network mode %q is not supported for builds (use default, none or host)", req.Network)
	}
	var tags []string
	for _, t := range req.Tags {
		n, err := normalizeTag(t)
		if err != nil {
			return Result{}, err
		}
		tags = append(tags, n)
	}
	opts := build.Options{BuildArgs: req.BuildArgs, Target: req.Target, Labels: req.Labels, NoCache: req.NoCache,
		NetworkMode: req.Network, Platform: plat, Out: out}
	if v, ok := req.BuildArgs["SOURCE_DATE_EPOCH"]; ok && v != nil && *v != "" {
		sec, err := strconv.ParseInt(*v, 10, 64)
		if err != nil || sec < 0 {
			return Result{}, errdefs.InvalidArgumentf("invalid SOURCE_DATE_EPOCH %q: want seconds since 1970", *v)
		}
		t := time.Unix(sec, 0).UTC()
		opts.SourceDateEpoch = &t
	}

	lease, err := svc.cfg.Store.Content().Lease(ctx)
	if err != nil {
		return Result{}, err
	}
	defer lease.Release()
	ctx, s, err := svc.newSession(ctx, opts, req)
	if err != nil {
		return Result{}, err
	}
	defer s.close()
	t0 := time.Now()
	if s.ctxFS, err = readContext(ctx, &svc.chunks, s.work, req.Context); err != nil {
		return Result{}, err
	}
	trace("context %d bytes read in %v", s.ctxFS.size, time.Since(t0))
	name := req.Dockerfile
	if name == "" {
		name = "Dockerfile"
	}
	df, err := s.ctxFS.ReadFile(name)
	if err != nil {
		return Result{}, errdefs.InvalidArgumentf("Cannot locate specified Dockerfile: %s", name)
	}
	opts.Dockerfile, opts.DockerfileName = df, filepath.Base(name)
	if strings.HasPrefix(opts.DockerfileName, ".dockerfile.") {
		opts.DockerfileName = "Dockerfile"
	}
	s.opts = opts
	t1 := time.Now()
	res, err := build.Build(ctx, s, opts)
	if err != nil {
		// Keep what the steps before the failure made (their layers and
		// cache records); the failed step's snapshot is dropped.
		if perr := s.publish(ctx); perr != nil {
			trace("publish after a failed build: %v", perr)
		}
		return Result{}, err
	}
	t2 := time.Now()
	id, err := s.commitImage(ctx, res, tags)
	if err != nil {
		return Result{}, err
	}
	trace("steps %v, image stored in %v", t2.Sub(t1), time.Since(t2))
	return Result{ID: id, Tags: tags}, nil
}

func (s *session) now(epoch *time.Time) time.Time {
	if epoch != nil {
		return epoch.UTC()
	}
	return time.Now().UTC().Truncate(time.Second)
}

// tracing logs the phases of each build when BERTH_BUILD_TRACE is set.
var tracing = os.Getenv("BERTH_BUILD_TRACE") != ""

func trace(format string, a ...any) {
	if tracing {
		log.Printf("build: "+format, a...)
	}
}
