// Package volumes holds the volume use cases: create, inspect, list,
// remove, prune, and the reference counting containers rely on.
package volumes

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sort"
	"strings"
	"sync"
	"time"

	eventtypes "github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/volume"

	"github.com/berth-project/berth/internal/engine/events"
	"github.com/berth-project/berth/internal/errdefs"
	vrec "github.com/berth-project/berth/internal/volume"
)

// Service implements the volume operations.
type Service struct {
	store  *vrec.Store
	events *events.Bus
	mu     sync.Mutex
	refs   map[string]map[string]bool // volume -> container IDs
}

// New returns the service over store; volume events go to bus (nil:
// none).
func New(store *vrec.Store, bus *events.Bus) *Service {
	return &Service{store: store, events: bus, refs: map[string]map[string]bool{}}
}

func (s *Service) emit(action eventtypes.Action, name string) {
	if s.events != nil {
		s.events.Publish(eventtypes.VolumeEventType, action, name, map[string]string{"driver": "local"})
	}
}

// create makes a volume and reports it when it is new.
func (s *Service) create(name string, labels, opts map[string]string) (*vrec.Volume, error) {
	v, created, err := s.store.Create(name, labels, opts)
	if err == nil && created {
		s.emit(eventtypes.ActionCreate, v.Name)
	}
	return v, err
}

// remove deletes a volume and reports it.
func (s *Service) remove(name string) error {
	if err := s.store.Remove(name); err != nil {
		return err
	}
	s.emit(eventtypes.ActionDestroy, name)
	return nil
}

// Create makes a volume (a random name when name is empty).
func (s *Service) Create(_ context.Context, req volume.CreateRequest) (volume.Volume, error) {
	if req.Driver != "" && req.Driver != "local" {
		return volume.Volume{}, errdefs.NotFoundf("plugin %q not found", req.Driver)
	}
	name := req.Name
	labels := req.Labels
	if name == "" {
		name = randomName()
		labels = withLabel(labels, vrec.AnonymousLabel, "")
	}
	v, err := s.create(name, labels, req.DriverOpts)
	if err != nil {
		return volume.Volume{}, err
	}
	return s.api(v, false), nil
}

func withLabel(l map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for a, b := range l {
		out[a] = b
	}
	return out
}

func randomName() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Service) api(v *vrec.Volume, usage bool) volume.Volume {
	out := volume.Volume{
		Name:       v.Name,
		Driver:     v.Driver,
		Labels:     v.Labels,
		Options:    v.Options,
		Mountpoint: s.store.Path(v.Name),
		Scope:      "local",
		CreatedAt:  v.CreatedAt.Format(time.RFC3339),
	}
	if usage {
		out.UsageData = &volume.UsageData{Size: s.store.Size(v.Name), RefCount: int64(s.refCount(v.Name))}
	}
	return out
}

func (s *Service) refCount(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.refs[name])
}

// Inspect returns one volume.
func (s *Service) Inspect(_ context.Context, name string) (volume.Volume, error) {
	v, err := s.store.Get(name)
	if err != nil {
		return volume.Volume{}, err
	}
	return s.api(v, false), nil
}

// List returns volumes matching filters (name, label, dangling, driver).
func (s *Service) List(_ context.Context, filters map[string][]string) (volume.ListResponse, error) {
	for k := range filters {
		switch k {
		case "name", "label", "dangling", "driver":
		default:
			return volume.ListResponse{}, errdefs.InvalidArgumentf("invalid filter '%s'", k)
		}
	}
	all, err := s.store.List()
	if err != nil {
		return volume.ListResponse{}, err
	}
	resp := volume.ListResponse{Volumes: []volume.Volume{}, Warnings: []string{}}
	for _, v := range all {
		if s.matches(v, filters) {
			resp.Volumes = append(resp.Volumes, s.api(v, false))
		}
	}
	return resp, nil
}

func (s *Service) matches(v *vrec.Volume, f map[string][]string) bool {
	for _, n := range f["name"] {
		if !containsStr(v.Name, n) {
			return false
		}
	}
	for _, l := range f["label"] {
		k, val, hasV := cut(l, "=")
		got, ok := v.Labels[k]
		if !ok || (hasV && got != val) {
			return false
		}
	}
	for _, d := range f["dangling"] {
		dangling := s.refCount(v.Name) == 0
		if (d == "true" || d == "1") != dangling {
			return false
		}
	}
	for _, d := range f["driver"] {
		if d != v.Driver {
			return false
		}
	}
	return true
}

// Remove deletes a volume that no container uses (force: ignore a
// missing volume).
func (s *Service) Remove(_ context.Context, name string, force bool) error {
	s.mu.Lock()
	users := s.refs[name]
	s.mu.Unlock()
	if len(users) > 0 {
		var ids []string
		for id := range users {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		return errdefs.Conflictf("remove %s: volume is in use - [%s]", name, joinIDs(ids))
	}
	if err := s.remove(name); err != nil {
		if force && errdefs.IsNotFound(err) {
			return nil
		}
		return err
	}
	return nil
}

// Prune removes unused volumes: anonymous ones, or all with all=true.
func (s *Service) Prune(ctx context.Context, filters map[string][]string) (volume.PruneReport, error) {
	rep := volume.PruneReport{VolumesDeleted: []string{}}
	all, err := s.store.List()
	if err != nil {
		return rep, err
	}
	pruneAll := false
	for _, v := range filters["all"] {
		pruneAll = v == "true" || v == "1"
	}
	f := map[string][]string{"label": filters["label"]}
	for _, v := range all {
		if !pruneAll && !v.Anonymous() {
			continue
		}
		if s.refCount(v.Name) > 0 || !s.matches(v, f) {
			continue
		}
		size := s.store.Size(v.Name)
		if err := s.remove(v.Name); err != nil {
			continue
		}
		rep.VolumesDeleted = append(rep.VolumesDeleted, v.Name)
		rep.SpaceReclaimed += uint64(size)
	}
	return rep, nil
}

// Acquire implements containers.Volumes: it creates the volume if needed
// and records that containerID uses it.
func (s *Service) Acquire(ctx context.Context, name, containerID string) (string, string, error) {
	var labels map[string]string
	if name == "" {
		name = randomName()
		labels = map[string]string{vrec.AnonymousLabel: ""}
	}
	v, err := s.create(name, labels, nil)
	if err != nil {
		return "", "", err
	}
	s.mu.Lock()
	if s.refs[v.Name] == nil {
		s.refs[v.Name] = map[string]bool{}
	}
	s.refs[v.Name][containerID] = true
	s.mu.Unlock()
	return v.Name, s.store.Path(v.Name), nil
}

// Use records a reference without creating (daemon start).
func (s *Service) Use(name, containerID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refs[name] == nil {
		s.refs[name] = map[string]bool{}
	}
	s.refs[name][containerID] = true
}

// Release implements containers.Volumes: it drops containerID's
// reference and, with removeAnon, deletes the volume if anonymous and
// unused.
func (s *Service) Release(_ context.Context, name, containerID string, removeAnon bool) error {
	s.mu.Lock()
	delete(s.refs[name], containerID)
	unused := len(s.refs[name]) == 0
	if unused {
		delete(s.refs, name)
	}
	s.mu.Unlock()
	if !removeAnon || !unused {
		return nil
	}
	v, err := s.store.Get(name)
	if err != nil {
		return nil
	}
	if v.Anonymous() {
		return s.remove(name)
	}
	return nil
}

func containsStr(s, sub string) bool {
	return strings.Contains(s, sub)
}

func cut(s, sep string) (string, string, bool) { return strings.Cut(s, sep) }

func joinIDs(ids []string) string { return strings.Join(ids, ", ") }
