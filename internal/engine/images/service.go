// Package images holds the image use cases of the engine, one file per
// operation: list, inspect, history, tag, remove, prune, load, save,
// import, commit, the container filesystem operations (changes, export)
// and disk usage. It also gives containers their root filesystems
// (Resolve, Mount, Unmount, Release: engine/containers.Images).
package images

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/moby/moby/api/types/build"
	eventtypes "github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/volume"

	"github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/engine/events"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/image/reference"
	"github.com/berth-project/berth/internal/snapshot"
)

// Containers is what the image use cases need from the containers
// service: which containers exist and use which image, and pausing one
// for a commit.
type Containers interface {
	List() []*container.Container
	Get(ref string) (*container.Container, error)
	Pause(ctx context.Context, ref string) error
	Unpause(ctx context.Context, ref string) error
}

// VolumeUsage reports the volumes with their sizes and reference counts.
type VolumeUsage interface {
	Usage(ctx context.Context) ([]volume.Volume, error)
}

// BuildCache reports the build cache records for disk usage.
type BuildCache interface {
	DiskUsage(ctx context.Context) ([]build.CacheRecord, error)
}

// Config configures the service.
type Config struct {
	Store       *image.Store
	Snapshotter snapshot.Snapshotter
	// Events receives image events (nil: none are sent).
	Events *events.Bus
	// Volumes reports volume usage for system df (nil: no volumes).
	Volumes VolumeUsage
}

// Service implements the image operations.
type Service struct {
	store      *image.Store
	sn         snapshot.Snapshotter
	events     *events.Bus
	volumes    VolumeUsage
	containers Containers
	buildCache BuildCache
	// removeMu serialises removals and prunes, so that the checks for
	// conflicts and the deletions they allow do not interleave.
	removeMu sync.Mutex
}

// New returns the service. SetContainers must be called before the
// operations that look at containers are used.
func New(cfg Config) *Service {
	return &Service{store: cfg.Store, sn: cfg.Snapshotter, events: cfg.Events, volumes: cfg.Volumes}
}

// SetContainers gives the service the containers it checks image use
// against (the containers service, which itself needs this service).
func (s *Service) SetContainers(c Containers) { s.containers = c }

// SetBuildCache adds the build cache to system df.
func (s *Service) SetBuildCache(b BuildCache) { s.buildCache = b }

// Store returns the image store.
func (s *Service) Store() *image.Store { return s.store }

// Snapshotter returns the snapshotter holding layers and container
// root filesystems.
func (s *Service) Snapshotter() snapshot.Snapshotter { return s.sn }

func (s *Service) listContainers() []*container.Container {
	if s.containers == nil {
		return nil
	}
	return s.containers.List()
}

// emit publishes an image event; id is what Docker puts there (an ID or
// a name), name the image's name attribute.
func (s *Service) emit(action eventtypes.Action, id, name string) {
	if s.events == nil {
		return
	}
	s.events.Publish(eventtypes.ImageEventType, action, id, map[string]string{"name": name})
}

// noSuchImage is Docker's not-found error for ref: a name is shown
// normalised (busybox:latest), anything else as given.
func noSuchImage(ref string) error {
	if n, err := reference.Parse(ref); err == nil {
		ref = reference.Familiar(n.String())
	}
	return errdefs.NotFoundf("No such image: %s", ref)
}

// lookup resolves ref (name, name@digest or ID) to its record and this
// host's manifest and config.
func (s *Service) lookup(ctx context.Context, ref string) (image.Image, image.Resolved, error) {
	img, err := s.store.Resolve(ctx, ref)
	if err != nil {
		if errors.Is(err, image.ErrNotFound) {
			return image.Image{}, image.Resolved{}, noSuchImage(ref)
		}
		return image.Image{}, image.Resolved{}, err
	}
	r, err := image.Resolve(ctx, s.store.Content(), img.Target, s.store.Platform())
	if err != nil {
		return img, image.Resolved{}, fmt.Errorf("image %s: %w", ref, err)
	}
	return img, r, nil
}

// shortID is the 12 hex digits Docker shows of an ID.
func shortID(id string) string {
	if _, hex, ok := cutAlgorithm(id); ok {
		id = hex
	}
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func cutAlgorithm(id string) (alg, hex string, ok bool) {
	for i := 0; i < len(id); i++ {
		if id[i] == ':' {
			return id[:i], id[i+1:], true
		}
	}
	return "", id, false
}
