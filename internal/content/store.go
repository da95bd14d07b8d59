// Package content is berth's digest-addressed blob store.
//
// Layout under the root directory:
//
//	blobs/<alg>/<hex>     committed blobs, immutable, verified on write
//	labels/<alg>/<hex>    JSON map of labels of a blob (written atomically)
//	ingest/<key>/         in-progress writes (data, ref, expected), one flock each
//	batches/<id>          markers of batches of unsynced commits (see Batch)
//	gc.lock               shared by writers holding a lease, exclusive for GC
//	labels.lock           serialises label read-modify-write across processes
//
// A blob only appears under blobs/ by link(2) of a fully written, fsynced and
// verified ingest file, so a crash never leaves a blob claiming a digest it
// does not have; blobs committed in a Batch are synced together at its end,
// and re-checked at the next open if its holder died first. Many processes
// may use one root at once.
package content

import (
	"context"
	_ "crypto/sha256" // register digest algorithms
	_ "crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	digest "github.com/opencontainers/go-digest"
)

// Store is a content store rooted at a directory.
type Store struct {
	root string
}

// Info describes a committed blob.
type Info struct {
	Digest    digest.Digest
	Size      int64
	CreatedAt time.Time
	Labels    map[string]string
}

// ReaderAt reads a committed blob at random offsets.
type ReaderAt interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// New opens (creating if needed) the store rooted at root.
func New(root string) (*Store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("content store root %q: %w", root, err)
	}
	for _, d := range []string{"blobs", "ingest", "labels"} {
		if err := os.MkdirAll(filepath.Join(abs, d), 0o711); err != nil {
			return nil, fmt.Errorf("create content store: %w", err)
		}
	}
	s := &Store{root: abs}
	if err := s.recoverBatches(); err != nil {
		return nil, err
	}
	return s, nil
}

// Root returns the store's root directory.
func (s *Store) Root() string { return s.root }

func (s *Store) blobPath(dgst digest.Digest) (string, error) {
	if err := dgst.Validate(); err != nil {
		return "", fmt.Errorf("digest %q: %v: %w", dgst, err, ErrInvalidArgument)
	}
	return filepath.Join(s.root, "blobs", dgst.Algorithm().String(), dgst.Encoded()), nil
}

func (s *Store) labelsPath(dgst digest.Digest) string {
	return filepath.Join(s.root, "labels", dgst.Algorithm().String(), dgst.Encoded())
}

// BlobPath returns the path of a committed blob (for callers that want to
// hand a file to another process); it fails if the blob is absent.
func (s *Store) BlobPath(dgst digest.Digest) (string, error) {
	p, err := s.blobPath(dgst)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(p); err != nil {
		return "", notFound(dgst, err)
	}
	return p, nil
}

func notFound(dgst digest.Digest, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("content %s: %w", dgst, ErrNotFound)
	}
	return fmt.Errorf("content %s: %w", dgst, err)
}

// Exists reports whether the blob is committed.
func (s *Store) Exists(dgst digest.Digest) bool {
	p, err := s.blobPath(dgst)
	if err != nil {
		return false
	}
	_, err = os.Stat(p)
	return err == nil
}

// Info returns size, creation time and labels of a committed blob.
func (s *Store) Info(ctx context.Context, dgst digest.Digest) (Info, error) {
	p, err := s.blobPath(dgst)
	if err != nil {
		return Info{}, err
	}
	st, err := os.Stat(p)
	if err != nil {
		return Info{}, notFound(dgst, err)
	}
	labels, err := s.readLabels(dgst)
	if err != nil {
		return Info{}, err
	}
	return Info{Digest: dgst, Size: st.Size(), CreatedAt: st.ModTime(), Labels: labels}, nil
}

// Open returns a reader of a committed blob.
func (s *Store) Open(ctx context.Context, dgst digest.Digest) (io.ReadCloser, error) {
	p, err := s.blobPath(dgst)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, notFound(dgst, err)
	}
	return f, nil
}

type fileReaderAt struct {
	*os.File
	size int64
}

func (r fileReaderAt) Size() int64 { return r.size }

// ReaderAt returns a random-access reader of a committed blob.
func (s *Store) ReaderAt(ctx context.Context, dgst digest.Digest) (ReaderAt, error) {
	p, err := s.blobPath(dgst)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, notFound(dgst, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat content %s: %w", dgst, err)
	}
	return fileReaderAt{File: f, size: st.Size()}, nil
}

// ReadBlob reads a whole (small) blob, such as a manifest or config.
func (s *Store) ReadBlob(ctx context.Context, dgst digest.Digest) ([]byte, error) {
	p, err := s.blobPath(dgst)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, notFound(dgst, err)
	}
	return b, nil
}

// Walk calls fn for every committed blob. A blob deleted during the walk
// is skipped.
func (s *Store) Walk(ctx context.Context, fn func(Info) error) error {
	algs, err := os.ReadDir(filepath.Join(s.root, "blobs"))
	if err != nil {
		return fmt.Errorf("walk content: %w", err)
	}
	for _, alg := range algs {
		if !alg.IsDir() || !digest.Algorithm(alg.Name()).Available() {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(s.root, "blobs", alg.Name()))
		if err != nil {
			return fmt.Errorf("walk content: %w", err)
		}
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return err
			}
			dgst := digest.NewDigestFromEncoded(digest.Algorithm(alg.Name()), e.Name())
			if dgst.Validate() != nil {
				continue
			}
			info, err := s.Info(ctx, dgst)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if err := fn(info); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete removes a committed blob and its labels.
func (s *Store) Delete(ctx context.Context, dgst digest.Digest) error {
	p, err := s.blobPath(dgst)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		return notFound(dgst, err)
	}
	if err := os.Remove(s.labelsPath(dgst)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete labels of %s: %w", dgst, err)
	}
	return nil
}

func (s *Store) readLabels(dgst digest.Digest) (map[string]string, error) {
	b, err := os.ReadFile(s.labelsPath(dgst))
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read labels of %s: %w", dgst, err)
	}
	labels := map[string]string{}
	if err := json.Unmarshal(b, &labels); err != nil {
		return nil, fmt.Errorf("parse labels of %s: %w", dgst, err)
	}
	return labels, nil
}

// UpdateLabels merges labels into a committed blob's labels; an empty value
// removes the key. The update is atomic and serialised across processes.
func (s *Store) UpdateLabels(ctx context.Context, dgst digest.Digest, labels map[string]string) (map[string]string, error) {
	if !s.Exists(dgst) {
		return nil, fmt.Errorf("update labels: content %s: %w", dgst, ErrNotFound)
	}
	l, err := lockFile(filepath.Join(s.root, "labels.lock"), true)
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	cur, err := s.readLabels(dgst)
	if err != nil {
		return nil, err
	}
	for k, v := range labels {
		if v == "" {
			delete(cur, k)
		} else {
			cur[k] = v
		}
	}
	if err := s.writeLabels(dgst, cur); err != nil {
		return nil, err
	}
	return cur, nil
}

func (s *Store) writeLabels(dgst digest.Digest, labels map[string]string) error {
	p := s.labelsPath(dgst)
	if len(labels) == 0 {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("write labels of %s: %w", dgst, err)
		}
		return nil
	}
	b, err := json.Marshal(labels)
	if err != nil {
		return fmt.Errorf("encode labels: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o711); err != nil {
		return fmt.Errorf("write labels of %s: %w", dgst, err)
	}
	if err := WriteFileAtomic(p, b, 0o644); err != nil {
		return fmt.Errorf("write labels of %s: %w", dgst, err)
	}
	return nil
}

// WriteFileAtomic writes data to a temp file next to path, fsyncs it and
// renames it over path, so readers see the old or the new file, never a part.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Chmod(perm); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
