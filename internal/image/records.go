package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/content"
	"github.com/berth-project/berth/internal/image/platform"
	"github.com/berth-project/berth/internal/image/reference"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// DanglingPrefix starts the record name of an image without a tag
// (Docker's <none>:<none>): "dangling@<target digest>".
const DanglingPrefix = "dangling@"

// Image is an image record: a name pointing at an index or manifest.
// The name is a tag (repo:tag, Docker's RepoTags), a digest reference
// (repo@sha256:..., Docker's RepoDigests: what a pull or push saw in a
// registry) or DanglingPrefix+digest for an image without either.
type Image struct {
	Name      string             `json:"name"` // normalised reference, or DanglingPrefix+digest
	Target    ocispec.Descriptor `json:"target"`
	CreatedAt time.Time          `json:"createdAt"`
	UpdatedAt time.Time          `json:"updatedAt"`
	// TagTime is when a tag, build, import or commit gave a tag record its
	// name (Docker's LastTagTime); zero for what a pull or load named.
	TagTime time.Time         `json:"tagTime,omitzero"`
	Labels  map[string]string `json:"labels,omitempty"`
}

// Dangling reports whether the record has no name (neither tag nor
// digest reference).
func (i Image) Dangling() bool { return strings.HasPrefix(i.Name, DanglingPrefix) }

// Digested reports whether the record is a digest reference
// (repo@sha256:...).
func (i Image) Digested() bool { return !i.Dangling() && strings.Contains(i.Name, "@") }

// Tagged reports whether the record is a tag (repo:tag).
func (i Image) Tagged() bool { return !i.Dangling() && !strings.Contains(i.Name, "@") }

// Store keeps image records under <root>/images as one JSON file per
// name, each replaced atomically, with mutations serialised across
// processes by an flock; blobs live in the content store.
type Store struct {
	cs       *content.Store
	dir      string
	platform platform.Matcher
	holders  holders
}

// NewStore opens the image store whose records live under root.
func NewStore(root string, cs *content.Store) (*Store, error) {
	dir := filepath.Join(root, "images")
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	return &Store{cs: cs, dir: dir, platform: platform.Default()}, nil
}

// Content returns the content store.
func (s *Store) Content() *content.Store { return s.cs }

// Platform returns the platform matcher used to pick manifests.
func (s *Store) Platform() platform.Matcher { return s.platform }

func (s *Store) recordPath(name string) string {
	sum := sha256.Sum256([]byte(name))
	return filepath.Join(s.dir, hex.EncodeToString(sum[:])+".json")
}

// lock serialises record mutations across processes.
func (s *Store) lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock image store: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock image store: %w", err)
	}
	return func() { f.Close() }, nil
}

func normalizeName(name string) (string, error) {
	if strings.HasPrefix(name, DanglingPrefix) {
		if err := digest.Digest(strings.TrimPrefix(name, DanglingPrefix)).Validate(); err != nil {
			return "", fmt.Errorf("image name %q: %w", name, ErrInvalidArgument)
		}
		return name, nil
	}
	n, err := reference.Parse(name)
	if err != nil {
		return "", fmt.Errorf("%w: %w", err, ErrInvalidArgument)
	}
	if d := reference.Digest(n); d != "" {
		// name:tag@digest is the digest reference, as Docker looks it up.
		if n, err = reference.WithDigest(n, d); err != nil {
			return "", fmt.Errorf("%w: %w", err, ErrInvalidArgument)
		}
	}
	return n.String(), nil
}

func (s *Store) read(name string) (Image, error) {
	b, err := os.ReadFile(s.recordPath(name))
	if errors.Is(err, fs.ErrNotExist) {
		return Image{}, fmt.Errorf("image %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return Image{}, fmt.Errorf("read image %q: %w", name, err)
	}
	var img Image
	if err := json.Unmarshal(b, &img); err != nil {
		return Image{}, fmt.Errorf("parse image record %q: %w", name, err)
	}
	return img, nil
}

func (s *Store) write(img Image) error {
	b, err := json.Marshal(img)
	if err != nil {
		return fmt.Errorf("encode image record: %w", err)
	}
	if err := content.WriteFileAtomic(s.recordPath(img.Name), b, 0o644); err != nil {
		return fmt.Errorf("write image record %q: %w", img.Name, err)
	}
	return nil
}

func (s *Store) remove(name string) error {
	if err := os.Remove(s.recordPath(name)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("image %q: %w", name, ErrNotFound)
		}
		return fmt.Errorf("delete image %q: %w", name, err)
	}
	return nil
}

// Get returns the record of a name (normalised first).
func (s *Store) Get(ctx context.Context, name string) (Image, error) {
	n, err := normalizeName(name)
	if err != nil {
		return Image{}, err
	}
	return s.read(n)
}

// List returns all records sorted by name.
func (s *Store) List(ctx context.Context) ([]Image, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	var out []Image
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.dir, e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list images: %w", err)
		}
		var img Image
		if err := json.Unmarshal(b, &img); err != nil {
			return nil, fmt.Errorf("parse image record %s: %w", e.Name(), err)
		}
		out = append(out, img)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Put creates or updates the record img.Name -> img.Target. If the name
// pointed at another image that no other name keeps, that image stays as
// a dangling record (like Docker's <none>:<none>); a dangling record of
// the new target is dropped.
func (s *Store) Put(ctx context.Context, img Image) (Image, error) {
	name, err := normalizeName(img.Name)
	if err != nil {
		return Image{}, err
	}
	if err := img.Target.Digest.Validate(); err != nil {
		return Image{}, fmt.Errorf("image %q target: %v: %w", name, err, ErrInvalidArgument)
	}
	if !s.cs.Exists(img.Target.Digest) {
		return Image{}, fmt.Errorf("image %q target %s: %w", name, img.Target.Digest, ErrNotFound)
	}
	img.Name = name
	unlock, err := s.lock()
	if err != nil {
		return Image{}, err
	}
	defer unlock()
	return s.putLocked(img)
}

func (s *Store) putLocked(img Image) (Image, error) {
	now := time.Now().UTC()
	old, err := s.read(img.Name)
	switch {
	case err == nil:
		img.CreatedAt = old.CreatedAt
		if img.TagTime.IsZero() && old.Target.Digest == img.Target.Digest {
			img.TagTime = old.TagTime // a pull of what the tag names already
		}
	case errors.Is(err, ErrNotFound):
		img.CreatedAt = now
	default:
		return Image{}, err
	}
	img.UpdatedAt = now
	if err := s.write(img); err != nil {
		return Image{}, err
	}
	if img.Dangling() {
		return img, nil
	}
	all, err := s.List(context.Background())
	if err != nil {
		return img, err
	}
	if old.Target.Digest != "" && old.Target.Digest != img.Target.Digest && !s.idReferenced(all, s.ID(context.Background(), old)) {
		if err := s.write(Image{Name: DanglingPrefix + old.Target.Digest.String(), Target: old.Target, CreatedAt: old.CreatedAt, UpdatedAt: now, Labels: old.Labels}); err != nil {
			return img, err
		}
	}
	if d := DanglingPrefix + img.Target.Digest.String(); d != img.Name {
		if err := s.remove(d); err != nil && !errors.Is(err, ErrNotFound) {
			return img, err
		}
	}
	return img, nil
}

// idReferenced reports whether a tagged record shows image ID id.
func (s *Store) idReferenced(all []Image, id digest.Digest) bool {
	for _, i := range all {
		if !i.Dangling() && s.ID(context.Background(), i) == id {
			return true
		}
	}
	return false
}

func referenced(all []Image, d digest.Digest) bool {
	for _, i := range all {
		if i.Target.Digest == d && !i.Dangling() {
			return true
		}
	}
	return false
}

// Delete removes the record of a name.
func (s *Store) Delete(ctx context.Context, name string) error {
	n, err := normalizeName(name)
	if err != nil {
		return err
	}
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	return s.remove(n)
}

// Tag points name at the image that source (a name or ID) resolves to.
func (s *Store) Tag(ctx context.Context, source, name string) (Image, error) {
	src, err := s.Resolve(ctx, source)
	if err != nil {
		return Image{}, err
	}
	return s.Put(ctx, Image{Name: name, Target: src.Target, Labels: src.Labels, TagTime: time.Now().UTC()})
}
