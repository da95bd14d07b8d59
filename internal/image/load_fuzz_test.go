package image

import (
	"bytes"
	"context"
	"testing"
)

// FuzzLoad feeds mutated Docker and OCI archives to Load: it must fail
// cleanly or load images whose every blob is present and verified.
func FuzzLoad(f *testing.F) {
	a, b := twoImages(f)
	f.Add(dockerArchive(f, a))
	f.Add(ociArchive(f, true, b))
	f.Add(dockerArchive(f, a, b)[:2048])
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		s := newTestStore(t)
		loaded, err := s.Load(ctx, bytes.NewReader(data))
		if err != nil {
			if all, _ := s.List(ctx); len(all) != 0 {
				t.Fatalf("failed load left records: %v", err)
			}
			return
		}
		for _, li := range loaded {
			if !s.Content().Exists(li.Target.Digest) {
				t.Fatalf("loaded image without its target blob: %+v", li)
			}
		}
	})
}
