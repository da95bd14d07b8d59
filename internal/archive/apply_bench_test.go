package archive

import (
	"bytes"
	"context"
	"fmt"
	"testing"
)

// BenchmarkApply extracts a layer of 5000 small files in 100 directories.
func BenchmarkApply(b *testing.B) {
	var entries []ent
	for d := range 100 {
		entries = append(entries, dir(fmt.Sprintf("d%03d", d)))
		for f := range 50 {
			entries = append(entries, file(fmt.Sprintf("d%03d/f%03d", d, f), "content of a small file\n"))
		}
	}
	layer := makeTar(b, entries...)
	b.SetBytes(int64(len(layer)))
	for b.Loop() {
		if _, _, err := Apply(context.Background(), b.TempDir(), bytes.NewReader(layer), ApplyOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
