package content

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	digest "github.com/opencontainers/go-digest"
)

// Writer ingests one blob. Data goes to a file under ingest/ and is hashed
// as it is written; Commit verifies digest and size, fsyncs and links the
// file into blobs/. A writer is owned by one goroutine.
type Writer struct {
	s            *Store
	ref          string
	dir          string
	f            *os.File
	lock         *fileLock
	digester     digest.Digester
	offset       int64
	expected     digest.Digest
	expectedSize int64
}

func ingestKey(ref string) string {
	sum := sha256.Sum256([]byte(ref))
	return hex.EncodeToString(sum[:])
}

// Writer opens an ingest for ref. expected (may be empty) is the digest the
// data must have, expectedSize (<= 0: unknown) its size. If a blob with the
// expected digest is already committed it returns an error matching
// ErrAlreadyExists. If another writer holds ref it returns ErrUnavailable.
// If an earlier writer of ref left data behind (crash, Close without
// Commit), the ingest resumes: Offset tells how many bytes are already in.
func (s *Store) Writer(ctx context.Context, ref string, expected digest.Digest, expectedSize int64) (*Writer, error) {
	if ref == "" {
		return nil, fmt.Errorf("content writer: empty ref: %w", ErrInvalidArgument)
	}
	alg := digest.Canonical
	if expected != "" {
		if err := expected.Validate(); err != nil {
			return nil, fmt.Errorf("content writer: expected digest %q: %w: %w", expected, err, ErrInvalidArgument)
		}
		if s.Exists(expected) {
			return nil, fmt.Errorf("content %s: %w", expected, ErrAlreadyExists)
		}
		alg = expected.Algorithm()
	}
	dir := filepath.Join(s.root, "ingest", ingestKey(ref))
	lock, err := s.lockIngest(dir)
	if err != nil {
		return nil, fmt.Errorf("content writer %q: %w", ref, err)
	}
	w := &Writer{s: s, ref: ref, dir: dir, lock: lock, digester: alg.Digester(),
		expected: expected, expectedSize: expectedSize}
	if err := w.open(); err != nil {
		lock.Unlock()
		return nil, fmt.Errorf("content writer %q: %w", ref, err)
	}
	return w, nil
}

// lockIngest creates dir and takes its lock; it retries when the directory
// was removed by a committing writer between open and flock.
func (s *Store) lockIngest(dir string) (*fileLock, error) {
	lockPath := filepath.Join(dir, "lock")
	for attempt := 0; ; attempt++ {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		l, err := tryLockFile(lockPath)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && attempt < 10 {
				continue
			}
			return nil, err
		}
		// The lock is only ours if the path still names the inode we locked.
		held, err1 := l.f.Stat()
		cur, err2 := os.Stat(lockPath)
		if err1 == nil && err2 == nil && os.SameFile(held, cur) {
			return l, nil
		}
		l.Unlock()
		if attempt >= 10 {
			return nil, fmt.Errorf("ingest %s keeps changing: %w", dir, ErrUnavailable)
		}
	}
}

func (w *Writer) open() error {
	dataPath := filepath.Join(w.dir, "data")
	prevExpected, _ := os.ReadFile(filepath.Join(w.dir, "expected"))
	resume := string(prevExpected) == w.expected.String()
	flags := os.O_RDWR | os.O_CREATE
	if !resume {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(dataPath, flags, 0o600)
	if err != nil {
		return err
	}
	if resume {
		n, err := io.Copy(w.digester.Hash(), f)
		if err != nil {
			f.Close()
			return fmt.Errorf("rehash resumed ingest: %w", err)
		}
		w.offset = n
		if w.expectedSize > 0 && n > w.expectedSize {
			// Garbage from an earlier, different write: start over.
			if err := f.Truncate(0); err != nil {
				f.Close()
				return err
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				f.Close()
				return err
			}
			w.digester = w.expected.Algorithm().Digester()
			w.offset = 0
		}
	}
	w.f = f
	if err := os.WriteFile(filepath.Join(w.dir, "ref"), []byte(w.ref), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(w.dir, "expected"), []byte(w.expected.String()), 0o600)
}

// Ref returns the ingest ref.
func (w *Writer) Ref() string { return w.ref }

// Offset returns how many bytes the ingest holds.
func (w *Writer) Offset() int64 { return w.offset }

// Digest returns the digest of the data written so far.
func (w *Writer) Digest() digest.Digest { return w.digester.Digest() }

// SetExpected sets the digest and size Commit verifies, for writers opened
// before they were known (a registry upload learns its digest at the end).
// When the digest's algorithm differs from the one hashed so far, the data
// written so far is hashed again with it.
func (w *Writer) SetExpected(expected digest.Digest, size int64) error {
	if w.f == nil {
		return fmt.Errorf("content writer %q: closed: %w", w.ref, ErrFailedPrecondition)
	}
	if err := expected.Validate(); err != nil {
		return fmt.Errorf("content writer %q: expected digest %q: %w: %w", w.ref, expected, err, ErrInvalidArgument)
	}
	cur := digest.Canonical
	if w.expected != "" {
		cur = w.expected.Algorithm()
	}
	if expected.Algorithm() != cur {
		d := expected.Algorithm().Digester()
		if _, err := io.Copy(d.Hash(), io.NewSectionReader(w.f, 0, w.offset)); err != nil {
			return fmt.Errorf("content writer %q: rehash: %w", w.ref, err)
		}
		w.digester = d
	}
	w.expected, w.expectedSize = expected, size
	return nil
}

// Write appends p to the ingest.
func (w *Writer) Write(p []byte) (int, error) {
	if w.f == nil {
		return 0, fmt.Errorf("content writer %q: closed: %w", w.ref, ErrFailedPrecondition)
	}
	if w.expectedSize > 0 && w.offset+int64(len(p)) > w.expectedSize {
		return 0, fmt.Errorf("content writer %q: more than the expected %d bytes: %w", w.ref, w.expectedSize, ErrFailedPrecondition)
	}
	n, err := w.f.Write(p)
	w.digester.Hash().Write(p[:n])
	w.offset += int64(n)
	if err != nil {
		return n, fmt.Errorf("content writer %q: %w", w.ref, err)
	}
	return n, nil
}

// Commit verifies size and digest, makes the data durable and publishes it
// as a blob with the given labels (under a Batch in ctx, durability waits
// for the batch's end). The writer is closed afterwards, also on
// failure; a verification failure discards the ingest. If the blob was
// committed meanwhile by another writer, the error matches ErrAlreadyExists.
func (w *Writer) Commit(ctx context.Context, labels map[string]string) (digest.Digest, error) {
	if w.f == nil {
		return "", fmt.Errorf("content writer %q: closed: %w", w.ref, ErrFailedPrecondition)
	}
	defer w.Close()
	dgst := w.digester.Digest()
	if w.expectedSize > 0 && w.offset != w.expectedSize {
		w.discard()
		return "", fmt.Errorf("content writer %q: size %d, expected %d: %w", w.ref, w.offset, w.expectedSize, ErrFailedPrecondition)
	}
	if w.expected != "" && dgst != w.expected {
		w.discard()
		return "", fmt.Errorf("content writer %q: digest %s, expected %s: %w", w.ref, dgst, w.expected, ErrFailedPrecondition)
	}
	batch := batchOf(ctx)
	if batch == nil {
		if err := w.f.Sync(); err != nil {
			return "", fmt.Errorf("content writer %q: sync: %w", w.ref, err)
		}
	}
	if err := w.f.Chmod(0o444); err != nil {
		return "", fmt.Errorf("content writer %q: %w", w.ref, err)
	}
	blob, err := w.s.blobPath(dgst)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(blob), 0o711); err != nil {
		return "", fmt.Errorf("content writer %q: %w", w.ref, err)
	}
	// Labels first: a blob never appears without the labels it was committed with.
	if len(labels) > 0 && !w.s.Exists(dgst) {
		if err := w.s.writeLabels(dgst, labels); err != nil {
			return "", err
		}
	}
	if err := os.Link(filepath.Join(w.dir, "data"), blob); err != nil {
		w.discard()
		if errors.Is(err, syscall.EEXIST) {
			return dgst, fmt.Errorf("content %s: %w", dgst, ErrAlreadyExists)
		}
		return "", fmt.Errorf("content writer %q: publish: %w", w.ref, err)
	}
	if batch == nil {
		if err := syncDir(filepath.Dir(blob)); err != nil {
			return "", fmt.Errorf("content writer %q: sync: %w", w.ref, err)
		}
	}
	w.discard()
	return dgst, nil
}

// discard removes the ingest directory while the lock is still held.
func (w *Writer) discard() {
	os.RemoveAll(w.dir)
}

// Close releases the writer without committing; written data stays in the
// ingest so a later Writer with the same ref resumes it (see Store.Abort).
func (w *Writer) Close() error {
	var err error
	if w.f != nil {
		err = w.f.Close()
		w.f = nil
	}
	if w.lock != nil {
		w.lock.Unlock()
		w.lock = nil
	}
	return err
}

// Abort removes the ingest of ref unless a writer holds it.
func (s *Store) Abort(ctx context.Context, ref string) error {
	dir := filepath.Join(s.root, "ingest", ingestKey(ref))
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("ingest %q: %w", ref, ErrNotFound)
	}
	l, err := s.lockIngest(dir)
	if err != nil {
		return fmt.Errorf("abort ingest %q: %w", ref, err)
	}
	defer l.Unlock()
	return os.RemoveAll(dir)
}

// WriteBlob copies r into the store as one blob. A blob that is already
// committed counts as success. It returns the blob's digest and size.
func (s *Store) WriteBlob(ctx context.Context, ref string, r io.Reader, expected digest.Digest, expectedSize int64, labels map[string]string) (digest.Digest, int64, error) {
	w, err := s.Writer(ctx, ref, expected, expectedSize)
	if errors.Is(err, ErrAlreadyExists) {
		if expectedSize <= 0 {
			if info, ierr := s.Info(ctx, expected); ierr == nil {
				expectedSize = info.Size
			}
		}
		return expected, expectedSize, nil
	}
	if err != nil {
		return "", 0, err
	}
	defer w.Close()
	if w.Offset() > 0 {
		// Resume: skip what the ingest already holds.
		if _, err := io.CopyN(io.Discard, r, w.Offset()); err != nil {
			return "", 0, fmt.Errorf("write blob %q: skip resumed bytes: %w", ref, err)
		}
	}
	if _, err := io.Copy(w, readerWithContext{ctx, r}); err != nil {
		return "", 0, fmt.Errorf("write blob %q: %w", ref, err)
	}
	size := w.Offset()
	dgst, err := w.Commit(ctx, labels)
	if err != nil && !errors.Is(err, ErrAlreadyExists) {
		return "", 0, err
	}
	return dgst, size, nil
}

// WriteBytes stores a small blob (manifest, config) and returns its digest.
func (s *Store) WriteBytes(ctx context.Context, b []byte, labels map[string]string) (digest.Digest, error) {
	dgst := digest.FromBytes(b)
	_, _, err := s.WriteBlob(ctx, "bytes-"+dgst.String()+"-"+randomSuffix(), strings.NewReader(string(b)), dgst, int64(len(b)), labels)
	return dgst, err
}

type readerWithContext struct {
	ctx context.Context
	r   io.Reader
}

func (r readerWithContext) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
