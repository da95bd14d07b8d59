package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/internal/build"
	"github.com/berth-project/berth/internal/content"
	"github.com/berth-project/berth/internal/durable"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/image/reference"
	"github.com/berth-project/berth/internal/snapshot"
)

// session is the backend of one build (build.Backend). Its blobs and
// layer snapshots are written in content and snapshot batches (no sync
// each), and its cache records are held back, until the build ends: then
// one flush of the filesystem makes everything durable and the records
// are written (see publish).
type session struct {
	svc     *Service
	sn      snapshot.Snapshotter
	cs      *content.Store
	batch   *durable.Batch // blobs and layer snapshots of this build, flushed at its end
	wrote   atomic.Bool    // some layer or blob was written (a flush is due)
	store   *image.Store
	opts    build.Options
	ctxFS   *contextFS
	secrets map[string][]byte
	work    string // private scratch directory, removed at the end
	out     io.Writer
	pull    bool // --pull: pull base images even when present
	// registryConfig is the request's X-Registry-Config header.
	registryConfig string

	mu      sync.Mutex
	records map[digest.Digest]pendingRecord // cache records of this build
	hits    []digest.Digest                 // cache records used
	// committed are the committed snapshots when the build started (one
	// read of the snapshot metadata instead of one per cache lookup).
	committed map[string]bool
}

type pendingRecord struct {
	probe digest.Digest
	rec   build.CacheRecord
}

var _ build.Backend = (*session)(nil)

// newSession starts a build's session and returns the context its
// backend calls must use (it carries the batches).
func (svc *Service) newSession(ctx context.Context, opts build.Options, req Request) (context.Context, *session, error) {
	work, err := os.MkdirTemp(filepath.Join(svc.cfg.Root, "work"), "b-")
	if err != nil {
		return ctx, nil, fmt.Errorf("build: %w", err)
	}
	cs := svc.cfg.Store.Content()
	batch, ctx, err := durable.Begin(ctx, cs, svc.cfg.Snapshotter)
	if err != nil {
		os.RemoveAll(work)
		return ctx, nil, err
	}
	return ctx, &session{svc: svc, sn: svc.cfg.Snapshotter, cs: cs, batch: batch,
		store: svc.cfg.Store, opts: opts, secrets: req.Secrets, work: work, out: opts.Out,
		pull: req.Pull, registryConfig: req.RegistryConfig, records: map[digest.Digest]pendingRecord{}}, nil
}

// close ends the batches (a failed build's too: what it wrote is flushed
// so that the batches end) and removes the scratch directory.
func (s *session) close() {
	if err := s.flush(); err != nil {
		trace("flush: %v", err)
	}
	if s.ctxFS != nil {
		s.ctxFS.Close()
	}
	os.RemoveAll(s.work)
}

// flush makes the batches durable with one syncfs per filesystem and
// finishes them.
func (s *session) flush() error {
	if !s.wrote.Load() {
		// Nothing new (a rebuild from the cache): no flush needed.
		return s.batch.End()
	}
	return s.batch.Flush()
}

// publish makes what the build made durable (flush) and then writes its
// cache records, which so only ever point at durable layers.
func (s *session) publish(ctx context.Context) error {
	s.mu.Lock()
	records := s.records
	s.records = map[digest.Digest]pendingRecord{}
	hits := s.hits
	s.hits = nil
	s.mu.Unlock()
	if err := s.flush(); err != nil {
		return err
	}
	now := time.Now().UTC()
	for key, p := range records {
		if err := s.svc.cache.put(key, p.probe, storedRecord{CacheRecord: p.rec, Key: key, LastUsed: now, Uses: 1}); err != nil {
			return err
		}
	}
	if len(hits) > 0 {
		s.svc.touch(hits, now)
	}
	return nil
}

// Image implements build.Backend: an image of the store (pulled first
// when absent and a puller is configured), unpacked into snapshots.
func (s *session) Image(ctx context.Context, ref string, p ocispec.Platform) (build.Image, error) {
	rec, err := s.store.Resolve(ctx, ref)
	if pull := s.svc.puller(); pull != nil && (s.pull || errors.Is(err, image.ErrNotFound)) && !isID(ref) {
		if perr := pull(ctx, ref, p, registryAuth(s.registryConfig, ref), &pullProgress{w: s.out}); perr != nil {
			if err == nil {
				// --pull with the image at hand: keep the local one.
				fmt.Fprintf(s.out, "Pulling %s failed (%v); using the local image\n", familiar(ref), perr)
			} else {
				return build.Image{}, perr
			}
		}
		rec, err = s.store.Resolve(ctx, ref)
	}
	if errors.Is(err, image.ErrNotFound) {
		return build.Image{}, errdefs.NotFoundf("No such image: %s", familiar(ref))
	}
	if err != nil {
		return build.Image{}, err
	}
	r, err := image.Resolve(ctx, s.cs, rec.Target, s.store.Platform())
	if err != nil {
		return build.Image{}, fmt.Errorf("image %s: %w", ref, err)
	}
	if _, err := image.Unpack(ctx, s.cs, s.sn, r.Manifest); err != nil {
		return build.Image{}, fmt.Errorf("unpack %s: %w", ref, err)
	}
	diffIDs := r.Config.RootFS.DiffIDs
	chains := identity.ChainIDs(append([]digest.Digest(nil), diffIDs...))
	img := build.Image{ID: r.ID(), Config: r.Config}
	for i, l := range r.Manifest.Layers {
		img.Layers = append(img.Layers, build.Layer{DiffID: diffIDs[i], Blob: l, Chain: chains[i]})
	}
	return img, nil
}

// familiar shortens a normalised reference the way Docker prints it.
func familiar(ref string) string {
	return reference.Familiar(ref)
}

// Sources implements build.Backend.
func (s *session) Sources(ctx context.Context, req build.SourceRequest) (build.Sources, error) {
	if req.Kind == build.FromImage {
		return imageSources(req), nil
	}
	fetch := func(u string) (copyRoot, error) {
		if req.Checksum != "" {
			name := urlName(u)
			return copyRoot{name: name, files: []srcFile{{hdr: urlHeader(req.Checksum)}},
				fetch: func(ctx context.Context) (copyRoot, error) {
					r, _, err := s.fetchURL(ctx, u, req.Checksum)
					return r, err
				}}, nil
		}
		r, _, err := s.fetchURL(ctx, u, "")
		return r, err
	}
	return contextSources(s.ctxFS, req, fetch)
}

// CacheGet implements build.Backend: this build's records first, then
// the store's; a record whose layer is gone (its blob or snapshot
// pruned) is a miss.
func (s *session) CacheGet(ctx context.Context, key digest.Digest) (build.CacheRecord, bool) {
	s.mu.Lock()
	p, ok := s.records[key]
	s.mu.Unlock()
	if ok {
		return p.rec, true
	}
	r, ok := s.svc.cache.get(key)
	if !ok {
		return build.CacheRecord{}, false
	}
	if l := r.Layer; l != nil {
		if !s.cs.Exists(l.Blob.Digest) {
			return build.CacheRecord{}, false
		}
		if !s.hasSnapshot(ctx, l.Chain.String()) {
			return build.CacheRecord{}, false
		}
	}
	s.mu.Lock()
	s.hits = append(s.hits, key)
	s.mu.Unlock()
	return r.CacheRecord, true
}

// hasSnapshot reports whether the committed snapshot name exists.
func (s *session) hasSnapshot(ctx context.Context, name string) bool {
	s.mu.Lock()
	if s.committed == nil {
		s.committed = map[string]bool{}
		_ = s.sn.Walk(ctx, func(i snapshot.Info) error {
			if i.Kind == snapshot.KindCommitted {
				s.committed[i.Name] = true
			}
			return nil
		})
	}
	ok := s.committed[name]
	s.mu.Unlock()
	if ok {
		return true
	}
	info, err := s.sn.Stat(ctx, name) // made since
	return err == nil && info.Kind == snapshot.KindCommitted
}

// CacheProbe implements build.Backend.
func (s *session) CacheProbe(ctx context.Context, probe digest.Digest) (build.CacheRecord, bool) {
	s.mu.Lock()
	for _, p := range s.records {
		if p.probe == probe {
			s.mu.Unlock()
			return p.rec, true
		}
	}
	s.mu.Unlock()
	r, ok := s.svc.cache.probe(probe)
	return r.CacheRecord, ok
}

// CachePut implements build.Backend: the record is written with the
// build's other data (publish).
func (s *session) CachePut(ctx context.Context, key, probe digest.Digest, rec build.CacheRecord) error {
	s.mu.Lock()
	s.records[key] = pendingRecord{probe: probe, rec: rec}
	s.mu.Unlock()
	return nil
}

// blobWriter opens an ingest for a layer blob.
func (s *session) blobWriter(ctx context.Context) (*content.Writer, error) {
	return s.cs.Writer(ctx, "build-"+content.RandomID(), "", 0)
}

// commitBlob commits a layer blob (in the build's batch: ctx carries it).
func (s *session) commitBlob(ctx context.Context, w *content.Writer) (digest.Digest, error) {
	s.wrote.Store(true)
	d, err := w.Commit(ctx, nil)
	if err != nil && !errors.Is(err, content.ErrAlreadyExists) {
		return "", err
	}
	return d, nil
}

// commitImage stores the config and manifest of a finished build and
// tags it (an untagged build gets a dangling record unless some name
// points at it already).
func (s *session) commitImage(ctx context.Context, res *build.Result, tags []string) (digest.Digest, error) {
	cfg := res.Image.Config
	cfgBytes, err := json.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("encode image config: %w", err)
	}
	if !s.cs.Exists(digest.FromBytes(cfgBytes)) {
		s.wrote.Store(true)
	}
	cfgDigest, err := s.cs.WriteBytes(ctx, cfgBytes, nil)
	if err != nil {
		return "", fmt.Errorf("store image config: %w", err)
	}
	man := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cfgDigest, Size: int64(len(cfgBytes))},
		Layers: []ocispec.Descriptor{}}
	man.SchemaVersion = 2
	for _, l := range res.Image.Layers {
		man.Layers = append(man.Layers, l.Blob)
	}
	manBytes, err := json.Marshal(man)
	if err != nil {
		return "", fmt.Errorf("encode manifest: %w", err)
	}
	if !s.cs.Exists(digest.FromBytes(manBytes)) {
		s.wrote.Store(true)
	}
	manDigest, err := s.cs.WriteBytes(ctx, manBytes, nil)
	if err != nil {
		return "", fmt.Errorf("store manifest: %w", err)
	}
	target := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: manDigest, Size: int64(len(manBytes))}
	if err := s.publish(ctx); err != nil {
		return "", err
	}
	names := tags
	if len(names) == 0 {
		names = []string{image.DanglingPrefix + manDigest.String()}
		if all, err := s.store.List(ctx); err == nil {
			for _, r := range all {
				if r.Target.Digest == manDigest && !r.Dangling() {
					names = nil // tagged already
				}
			}
		}
	}
	for _, n := range names {
		if cur, err := s.store.Get(ctx, n); err == nil && cur.Target.Digest == manDigest {
			continue // unchanged (a rebuild without changes)
		}
		rec := image.Image{Name: n, Target: target}
		if n != image.DanglingPrefix+manDigest.String() {
			rec.TagTime = time.Now().UTC()
		}
		if _, err := s.store.Put(ctx, rec); err != nil {
			return "", fmt.Errorf("tag %s: %w", n, err)
		}
	}
	return cfgDigest, nil
}

func normalizeTag(t string) (string, error) {
	n, err := reference.Parse(t)
	if err != nil {
		return "", errdefs.InvalidArgumentf("invalid tag %q: %v", t, err)
	}
	return n.String(), nil
}
