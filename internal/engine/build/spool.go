package build

import (
	"io"
	"os"
	"sync"
	"time"
)

// The build context's file data is kept in memory, in chunks that the
// service reuses from build to build (fresh memory costs page faults, a
// file costs page cache and writeback), up to a budget shared by the
// builds running; what does not fit goes to an unlinked file.
const (
	chunkSize    = 1 << 20
	memoryBudget = 512 << 20 // bytes of context data held in memory, all builds
	keptChunks   = 128       // chunks kept for the next build
	keepFor      = time.Minute
)

// chunkPool hands out chunks within the budget and keeps some for reuse.
type chunkPool struct {
	budget int // bytes; 0: memoryBudget
	mu     sync.Mutex
	free   [][]byte
	inUse  int
	timer  *time.Timer
}

// get returns a chunk, or nil when the budget is spent.
func (p *chunkPool) get() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	budget := p.budget
	if budget == 0 {
		budget = memoryBudget
	}
	if (p.inUse+1)*chunkSize > budget {
		return nil
	}
	p.inUse++
	if n := len(p.free); n > 0 {
		c := p.free[n-1]
		p.free = p.free[:n-1]
		return c
	}
	return make([]byte, chunkSize)
}

// put takes chunks back; those beyond keptChunks go to the GC, and the
// kept ones too when no build asks for them for a while.
func (p *chunkPool) put(chunks [][]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inUse -= len(chunks)
	for _, c := range chunks {
		if len(p.free) < keptChunks {
			p.free = append(p.free, c)
		}
	}
	if p.timer != nil {
		p.timer.Stop()
	}
	p.timer = time.AfterFunc(keepFor, func() {
		p.mu.Lock()
		p.free = nil
		p.mu.Unlock()
	})
}

// spool is append-only storage of the context's data with random reads.
type spool struct {
	pool   *chunkPool
	chunks [][]byte
	mem    int64 // bytes in chunks (a prefix of the data)
	dir    string
	file   *os.File // the rest, from offset mem on
	size   int64
}

func newSpool(pool *chunkPool, dir string) *spool { return &spool{pool: pool, dir: dir} }

// Write appends p.
func (s *spool) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && s.file == nil {
		off := int(s.mem % chunkSize)
		if int64(len(s.chunks))*chunkSize == s.mem {
			c := s.pool.get()
			if c == nil {
				f, err := openTmpFile(s.dir)
				if err != nil {
					return n - len(p), err
				}
				s.file = f
				break
			}
			s.chunks = append(s.chunks, c)
		}
		m := copy(s.chunks[len(s.chunks)-1][off:], p)
		p = p[m:]
		s.size += int64(m)
		s.mem += int64(m)
	}
	if len(p) > 0 {
		m, err := s.file.Write(p)
		s.size += int64(m)
		if err != nil {
			return n - len(p) + m, err
		}
	}
	return n, nil
}

// space returns room for up to max bytes in memory, to read into
// directly (then commit); nil once the data goes to the file.
func (s *spool) space(max int) []byte {
	if s.file != nil {
		return nil
	}
	if int64(len(s.chunks))*chunkSize == s.mem { // the last chunk is full
		c := s.pool.get()
		if c == nil {
			return nil
		}
		s.chunks = append(s.chunks, c)
	}
	off := int(s.mem % chunkSize)
	c := s.chunks[len(s.chunks)-1]
	return c[off:min(chunkSize, off+max)]
}

// commit records that n bytes were read into the slice space returned.
func (s *spool) commit(n int) {
	s.size += int64(n)
	s.mem += int64(n)
}

// ReadAt reads len(p) bytes at off.
func (s *spool) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for len(p) > 0 && off < s.mem {
		c := s.chunks[off/chunkSize]
		lim := int64(chunkSize)
		if rest := s.mem - (off/chunkSize)*chunkSize; rest < lim {
			lim = rest
		}
		m := copy(p, c[off%chunkSize:lim])
		p, off, n = p[m:], off+int64(m), n+m
	}
	if len(p) == 0 {
		return n, nil
	}
	if s.file == nil || off >= s.size {
		return n, io.EOF
	}
	m, err := s.file.ReadAt(p, off-s.mem)
	return n + m, err
}

// Close gives the memory back and drops the file.
func (s *spool) Close() error {
	s.pool.put(s.chunks)
	s.chunks = nil
	if s.file != nil {
		return s.file.Close()
	}
	return nil
}
