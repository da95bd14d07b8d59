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

// TestSpoolSpaceAtChunkEdges: reading straight into the spool's memory,
// with pieces that end on chunk boundaries and empty reads, keeps offsets
// right.
func TestSpoolSpaceAtChunkEdges(t *testing.T) {
	s := newSpool(&chunkPool{}, t.TempDir())
	defer s.Close()
	var want []byte
	put := func(n int) {
		for n > 0 {
			b := s.space(n)
			m := min(len(b), n)
			for i := 0; i < m; i++ {
				b[i] = byte(len(want) + i)
			}
			want = append(want, b[:m]...)
			s.commit(m)
			n -= m
		}
		s.space(10) // a read that finds the end of a file: nothing committed
		s.commit(0)
	}
	put(chunkSize)
	put(3)
	put(chunkSize - 3)
	put(chunkSize + 7)
	if s.size != int64(len(want)) || len(s.chunks) != 4 {
		t.Fatalf("size %d (want %d), %d chunks", s.size, len(want), len(s.chunks))
	}
	got := make([]byte, len(want))
	if _, err := s.ReadAt(got, 0); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("data read back differs")
	}
}
