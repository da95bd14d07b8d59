package content

import (
	"context"
	"os"
	"path/filepath"
)

// Usage is the disk use of the store.
type Usage struct {
	Blobs       int   // committed blobs
	BlobBytes   int64 // their sizes
	IngestBytes int64 // data of unfinished ingests
}

// Usage counts committed blobs and in-progress ingests (for `system df`).
func (s *Store) Usage(ctx context.Context) (Usage, error) {
	var u Usage
	err := s.Walk(ctx, func(i Info) error {
		u.Blobs++
		u.BlobBytes += i.Size
		return nil
	})
	if err != nil {
		return u, err
	}
	entries, _ := os.ReadDir(filepath.Join(s.root, "ingest"))
	for _, e := range entries {
		if st, err := os.Stat(filepath.Join(s.root, "ingest", e.Name(), "data")); err == nil {
			u.IngestBytes += st.Size()
		}
	}
	return u, nil
}
