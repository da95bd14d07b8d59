package distribution

import (
	"io"
	"sync"
	"time"

	digest "github.com/opencontainers/go-digest"
)

// Event is a progress message of a pull or push, in Docker's words
// ("Pulling fs layer", "Downloading", "Extracting", "Pull complete",
// "Pushing", "Layer already exists", …). ID is the short layer digest, or
// the tag for the lines about the whole image, or "" for a status line.
type Event struct {
	ID      string
	Status  string
	Current int64
	Total   int64
}

// Progress receives events; it may be called from several goroutines at
// once and must not block for long.
type Progress func(Event)

func (p Progress) emit(id, status string) {
	if p != nil {
		p(Event{ID: id, Status: status})
	}
}

// ShortID is the layer ID Docker shows: 12 hex digits of the digest.
func ShortID(d digest.Digest) string {
	e := d.Encoded()
	if len(e) > 12 {
		e = e[:12]
	}
	return e
}

// progressWriter counts bytes written through it and reports them every
// 100 ms or 8 MiB, whichever comes first (and at the end, by the caller).
type progressWriter struct {
	w      io.Writer
	p      Progress
	id     string
	status string
	total  int64

	mu       sync.Mutex
	n        int64
	last     time.Time
	lastSent int64
}

const progressStep = 8 << 20

func (pw *progressWriter) Write(b []byte) (int, error) {
	n, err := pw.w.Write(b)
	pw.add(int64(n))
	return n, err
}

func (pw *progressWriter) add(n int64) {
	if pw.p == nil {
		return
	}
	pw.mu.Lock()
	pw.n += n
	cur := pw.n
	now := time.Now()
	report := now.Sub(pw.last) >= 100*time.Millisecond || cur-pw.lastSent >= progressStep
	if report {
		pw.last, pw.lastSent = now, cur
	}
	pw.mu.Unlock()
	if report {
		pw.p(Event{ID: pw.id, Status: pw.status, Current: cur, Total: pw.total})
	}
}

// progressReader is progressWriter for readers.
type progressReader struct {
	r io.Reader
	progressWriter
}

func (pr *progressReader) Read(b []byte) (int, error) {
	n, err := pr.r.Read(b)
	pr.add(int64(n))
	return n, err
}
