package image

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"os"
	"testing"

	"github.com/berth-project/berth/internal/snapshot/overlay"
)

// benchArchive makes a Docker archive of layers x files of size bytes
// (pseudo-random, so compression-like work is realistic).
func benchArchive(b testing.TB, layers, files, size int) []byte {
	rng := rand.New(rand.NewSource(1))
	img := testImage{tags: []string{"bench:1"}}
	for l := range layers {
		m := map[string]string{fmt.Sprintf("d%d/", l): ""}
		for f := range files {
			buf := make([]byte, size)
			rng.Read(buf)
			m[fmt.Sprintf("d%d/f%d", l, f)] = string(buf)
		}
		img.layers = append(img.layers, makeLayer(b, m))
	}
	return dockerArchive(b, img)
}

// BenchmarkLoadUnpack loads a ~100 MB, 5-layer archive and unpacks it
// into overlay snapshots.
func BenchmarkLoadUnpack(b *testing.B) {
	arc := benchArchive(b, 5, 200, 100<<10)
	b.SetBytes(int64(len(arc)))
	for b.Loop() {
		b.StopTimer()
		s := newTestStore(b)
		dir, _ := os.MkdirTemp("", "bench-ov")
		sn, err := overlay.NewOverlay(dir)
		if err != nil {
			b.Skip(err)
		}
		b.StartTimer()
		if _, err := s.Load(context.Background(), bytes.NewReader(arc)); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Unpack(context.Background(), sn, "bench:1"); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		sn.Close()
		os.RemoveAll(dir)
		b.StartTimer()
	}
}

// BenchmarkLoad measures Load alone.
func BenchmarkLoad(b *testing.B) {
	arc := benchArchive(b, 5, 200, 100<<10)
	b.SetBytes(int64(len(arc)))
	for b.Loop() {
		b.StopTimer()
		s := newTestStore(b)
		b.StartTimer()
		if _, err := s.Load(context.Background(), bytes.NewReader(arc)); err != nil {
			b.Fatal(err)
		}
	}
}
