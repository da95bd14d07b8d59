package build

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
)

// TestSpoolOverflows: data beyond the memory budget goes to a file, and
// reads across the boundary return what was written.
func TestSpoolOverflows(t *testing.T) {
	pool := &chunkPool{budget: 2 * chunkSize}
	s := newSpool(pool, t.TempDir())
	data := make([]byte, 5*chunkSize+123)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	for off := 0; off < len(data); off += 300000 {
		if _, err := s.Write(data[off:min(off+300000, len(data))]); err != nil {
			t.Fatal(err)
		}
	}
	if s.mem != 2*chunkSize || s.file == nil || s.size != int64(len(data)) {
		t.Fatalf("mem %d, file %v, size %d", s.mem, s.file != nil, s.size)
	}
	for _, c := range []struct{ off, n int }{{0, 10}, {chunkSize - 5, 10}, {2*chunkSize - 7, 20}, {3 * chunkSize, chunkSize}, {len(data) - 50, 50}} {
		got := make([]byte, c.n)
		if _, err := s.ReadAt(got, int64(c.off)); err != nil && err != io.EOF {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data[c.off:c.off+c.n]) {
			t.Errorf("read %d bytes at %d differ", c.n, c.off)
		}
	}
	// Another build meanwhile gets no memory: the budget is spent.
	if pool.get() != nil {
		t.Error("budget exceeded")
	}
	s.Close()
	if pool.inUse != 0 || len(pool.free) != 2 {
		t.Errorf("after close: in use %d, kept %d", pool.inUse, len(pool.free))
	}
}
