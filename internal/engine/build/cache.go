package build

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-project/berth/internal/build"
)

// cacheStore keeps build cache records as small JSON files under dir:
// steps/<key> (a step's result) and probes/<probe> (the last result of a
// step without its inputs, to explain misses). Records are written after
// the data they point at is durable and without a sync of their own: a
// record lost or torn by a crash is only a cache miss, never a wrong hit
// (a record whose layer is gone is ignored too).
type cacheStore struct {
	dir string
	mu  sync.Mutex // serialises prune against writers in this process
}

type storedRecord struct {
	build.CacheRecord
	Key      digest.Digest `json:"key"`
	LastUsed time.Time     `json:"lastUsed"`
	Uses     int           `json:"uses"`
}

func openCache(dir string) (*cacheStore, error) {
	for _, d := range []string{"steps", "probes"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("build cache: %w", err)
		}
	}
	return &cacheStore{dir: dir}, nil
}

func (c *cacheStore) path(kind string, d digest.Digest) string {
	return filepath.Join(c.dir, kind, d.Encoded())
}

func (c *cacheStore) read(kind string, d digest.Digest) (storedRecord, bool) {
	if d.Validate() != nil {
		return storedRecord{}, false
	}
	b, err := os.ReadFile(c.path(kind, d))
	if err != nil {
		return storedRecord{}, false
	}
	var r storedRecord
	if json.Unmarshal(b, &r) != nil {
		return storedRecord{}, false
	}
	return r, true
}

func (c *cacheStore) get(key digest.Digest) (storedRecord, bool) { return c.read("steps", key) }

func (c *cacheStore) probe(p digest.Digest) (storedRecord, bool) { return c.read("probes", p) }

// put writes a step record and its probe record (rename over the old one,
// so readers see a whole record or none).
func (c *cacheStore) put(key, probe digest.Digest, rec storedRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	for _, p := range []string{c.path("steps", key), c.path("probes", probe)} {
		if err := writeFileRename(p, b); err != nil {
			return fmt.Errorf("build cache: %w", err)
		}
	}
	return nil
}

// touch records a use of a step record (for prune order and df).
func (c *cacheStore) touch(key digest.Digest, now time.Time) {
	r, ok := c.get(key)
	if !ok {
		return
	}
	r.LastUsed = now
	r.Uses++
	if b, err := json.Marshal(r); err == nil {
		_ = writeFileRename(c.path("steps", key), b)
	}
}

// all returns every step record.
func (c *cacheStore) all() ([]storedRecord, error) {
	entries, err := os.ReadDir(filepath.Join(c.dir, "steps"))
	if err != nil {
		return nil, fmt.Errorf("build cache: %w", err)
	}
	var out []storedRecord
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if r, ok := c.get(digest.NewDigestFromEncoded(digest.SHA256, e.Name())); ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// remove deletes a step record (its probe stays: it only explains misses).
func (c *cacheStore) remove(key digest.Digest) error {
	if err := os.Remove(c.path("steps", key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// writeFileRename writes data next to path and renames it over path,
// without a sync.
func writeFileRename(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
