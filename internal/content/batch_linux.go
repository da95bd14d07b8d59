package content

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// A Batch defers the durability of the blobs committed under it to one
// flush of the whole filesystem at its end, instead of an fsync of every
// blob and of its directory (a load of many layers spends much of its time
// there otherwise).
//
// A blob still never claims a digest it does not have: the batch first
// makes a marker file durable (batches/<id>, flocked while the batch
// lives); blobs are then linked into blobs/ unsynced. The holder calls
// Finish once the filesystem is flushed (syncfs), which removes the
// marker. If the holder dies first (killed, or the machine lost power),
// the marker outlives its lock, and the next New re-hashes every blob
// linked since the marker was made and deletes those whose content does
// not match their name.
type Batch struct {
	s     *Store
	path  string
	lock  *fileLock
	start time.Time
}

type batchKey struct{}

// WithBatch makes commits under ctx part of b: not synced one by one.
func WithBatch(ctx context.Context, b *Batch) context.Context {
	return context.WithValue(ctx, batchKey{}, b)
}

func batchOf(ctx context.Context) *Batch {
	b, _ := ctx.Value(batchKey{}).(*Batch)
	return b
}

// BeginBatch starts a batch; the caller must Finish it (after flushing the
// filesystem) or Sync it.
func (s *Store) BeginBatch() (*Batch, error) {
	dir := filepath.Join(s.root, "batches")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("content batch: %w", err)
	}
	var id [8]byte
	rand.Read(id[:])
	p := filepath.Join(dir, hex.EncodeToString(id[:]))
	lock, err := tryLockFile(p)
	if err != nil {
		return nil, fmt.Errorf("content batch: %w", err)
	}
	// The marker must be on disk before any unsynced blob is.
	if err := lock.f.Sync(); err != nil {
		lock.Unlock()
		os.Remove(p)
		return nil, fmt.Errorf("content batch: %w", err)
	}
	if err := syncDir(dir); err != nil {
		lock.Unlock()
		os.Remove(p)
		return nil, fmt.Errorf("content batch: %w", err)
	}
	st, err := lock.f.Stat()
	if err != nil {
		lock.Unlock()
		os.Remove(p)
		return nil, fmt.Errorf("content batch: %w", err)
	}
	return &Batch{s: s, path: p, lock: lock, start: st.ModTime()}, nil
}

// Root is the store's root, for the flush before Finish.
func (b *Batch) Root() string { return b.s.root }

// Finish ends the batch once the caller has flushed the filesystem of the
// store (see Syncfs): the blobs are durable, the marker goes.
func (b *Batch) Finish() error {
	if b == nil || b.lock == nil {
		return nil
	}
	err := os.Remove(b.path)
	b.lock.Unlock()
	b.lock = nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("content batch: %w", err)
	}
	return nil
}

// Sync flushes the store's filesystem and finishes the batch.
func (b *Batch) Sync() error {
	if b == nil || b.lock == nil {
		return nil
	}
	if err := Syncfs(b.s.root); err != nil {
		return err
	}
	return b.Finish()
}

// Syncfs flushes the filesystem that holds path (syncfs(2)).
func Syncfs(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	defer unix.Close(fd)
	if err := unix.Syncfs(fd); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}

// recoverBatches checks the blobs of batches whose holder died before
// finishing them.
func (s *Store) recoverBatches() error {
	dir := filepath.Join(s.root, "batches")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("recover content batches: %w", err)
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		lock, err := tryLockFile(p)
		if err != nil {
			continue // a live batch
		}
		st, err := lock.f.Stat()
		if err == nil {
			err = s.verifyBlobsSince(st.ModTime().Add(-2 * time.Second))
		}
		if err == nil {
			err = Syncfs(s.root) // the deletions, before the marker goes
		}
		if err == nil {
			os.Remove(p)
		}
		lock.Unlock()
		if err != nil {
			return fmt.Errorf("recover content batch %s: %w", e.Name(), err)
		}
	}
	return nil
}

// verifyBlobsSince re-hashes the blobs linked (ctime) at or after since
// and deletes those whose content does not have their digest.
func (s *Store) verifyBlobsSince(since time.Time) error {
	return s.Walk(context.Background(), func(i Info) error {
		p, err := s.blobPath(i.Digest)
		if err != nil {
			return nil
		}
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			return nil
		}
		if time.Unix(st.Ctim.Unix()).Before(since) {
			return nil
		}
		ok, err := hasDigest(p, i.Digest)
		if err != nil || ok {
			return err
		}
		return s.Delete(context.Background(), i.Digest)
	})
}

func hasDigest(p string, d digest.Digest) (bool, error) {
	f, err := os.Open(p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	v := d.Algorithm().Digester()
	if _, err := io.Copy(v.Hash(), f); err != nil {
		return false, err
	}
	return v.Digest() == d, nil
}
