package containers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/compress/gzip"

	crec "github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/shim"
)

// LogsOptions are the logs request's options.
type LogsOptions struct {
	Stdout, Stderr bool
	Follow         bool
	Timestamps     bool
	Since, Until   time.Time
	// Tail is the number of last lines to send; negative sends all.
	Tail int
}

// followPoll is how often a followed log is checked for new lines.
const followPoll = 50 * time.Millisecond

// Logs writes the container's log (json-file or local driver) to w
// (multiplexed frames, or raw for a terminal), then, with Follow, new
// entries until the container stops or ctx ends. flush, when set, is
// called after each batch.
func (s *Service) Logs(ctx context.Context, ref string, opts LogsOptions, w io.Writer, flush func()) error {
	c, err := s.store.Get(ref)
	if err != nil {
		return err
	}
	path, local := c.LogFile()
	if path == "" {
		return errdefs.InvalidArgumentf("configured logging driver does not support reading")
	}
	if !opts.Stdout && !opts.Stderr {
		return errdefs.InvalidArgumentf("Bad parameters: you must choose at least one stream")
	}
	lw := &logWriter{w: w, tty: c.Config.Tty, opts: opts}
	var entries []shim.LogEntry
	for _, p := range rotatedLogs(path) {
		entries = readRotated(p, local, entries, opts)
	}
	cur, err := os.Open(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	var er *entryReader
	if cur != nil {
		defer func() { cur.Close() }()
		er = newEntryReader(cur, local)
		entries = er.read(entries, opts)
	}
	if opts.Tail >= 0 && len(entries) > opts.Tail {
		entries = entries[len(entries)-opts.Tail:]
	}
	for _, e := range entries {
		if err := lw.write(e); err != nil {
			return nil
		}
	}
	if flush != nil {
		flush()
	}
	if !opts.Follow || (!opts.Until.IsZero() && time.Now().After(opts.Until)) {
		return nil
	}
	for {
		running := false
		if cc, err := s.store.Get(c.ID); err == nil {
			running = cc.State.Running()
		}
		if cur == nil {
			if f, err := os.Open(path); err == nil {
				cur, er = f, newEntryReader(f, local)
			}
		}
		if cur != nil {
			for _, e := range er.read(nil, opts) {
				if err := lw.write(e); err != nil {
					return nil
				}
			}
			if rotated(cur, path) {
				for _, e := range er.read(nil, opts) {
					if err := lw.write(e); err != nil {
						return nil
					}
				}
				cur.Close()
				cur, er = nil, nil
				continue
			}
		}
		if flush != nil {
			flush()
		}
		if !running {
			return nil
		}
		if !opts.Until.IsZero() && time.Now().After(opts.Until) {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(followPoll):
		}
	}
}

// writeLogs writes the log without following (attach with logs=1).
func (s *Service) writeLogs(ctx context.Context, c *crec.Container, opts LogsOptions, w io.Writer, tty bool) error {
	opts.Tail = -1
	opts.Follow = false
	return s.Logs(ctx, c.ID, opts, w, nil)
}

// rotatedLogs lists the rotated files (path.N or, compressed, path.N.gz)
// oldest first.
func rotatedLogs(path string) []string {
	var out []string
	for i := 1; ; i++ {
		p := path + "." + strconv.Itoa(i)
		if _, err := os.Stat(p); err != nil {
			if _, err := os.Stat(p + ".gz"); err != nil {
				break
			}
			p += ".gz"
		}
		out = append([]string{p}, out...)
	}
	return out
}

func readRotated(path string, local bool, entries []shim.LogEntry, opts LogsOptions) []shim.LogEntry {
	f, err := os.Open(path)
	if err != nil {
		return entries
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return entries
		}
		defer zr.Close()
		r = zr
	}
	return newEntryReader(r, local).read(entries, opts)
}

// entryReader reads the complete entries of a growing file; a partial
// last entry waits for its end.
type entryReader struct {
	r     io.Reader
	local bool
	buf   []byte
	chunk []byte
}

func newEntryReader(r io.Reader, local bool) *entryReader {
	return &entryReader{r: r, local: local, chunk: make([]byte, 64*1024)}
}

// read appends the entries available now that opts selects.
func (er *entryReader) read(entries []shim.LogEntry, opts LogsOptions) []shim.LogEntry {
	for {
		n, err := er.r.Read(er.chunk)
		er.buf = append(er.buf, er.chunk[:n]...)
		for {
			e, used, ok := er.next()
			if !ok {
				break
			}
			if used > 0 && selected(e, opts) {
				entries = append(entries, e)
			}
		}
		if err != nil || n == 0 {
			er.buf = append([]byte(nil), er.buf...)
			return entries
		}
	}
}

// next takes the first complete entry off the buffer; used is 0 for a
// record that is skipped (not decodable).
func (er *entryReader) next() (shim.LogEntry, int, bool) {
	var e shim.LogEntry
	if er.local {
		e, n, err := shim.DecodeLocal(er.buf)
		if errors.Is(err, shim.ErrShortRecord) {
			return e, 0, false
		}
		if n == 0 {
			// a corrupt length: nothing after it can be framed
			er.buf = er.buf[:0]
			return e, 0, false
		}
		er.buf = er.buf[n:]
		if err != nil {
			return e, 0, true
		}
		return e, n, true
	}
	i := bytes.IndexByte(er.buf, '\n')
	if i < 0 {
		return e, 0, false
	}
	line := er.buf[:i+1]
	er.buf = er.buf[i+1:]
	if json.Unmarshal(line, &e) != nil {
		return e, 0, true
	}
	return e, i + 1, true
}

func selected(e shim.LogEntry, opts LogsOptions) bool {
	if (e.Stream == "stdout" && !opts.Stdout) || (e.Stream == "stderr" && !opts.Stderr) {
		return false
	}
	if !opts.Since.IsZero() && e.Time.Before(opts.Since) {
		return false
	}
	return opts.Until.IsZero() || !e.Time.After(opts.Until)
}

// rotated reports whether path now names another file than f.
func rotated(f *os.File, path string) bool {
	a, err1 := f.Stat()
	b, err2 := os.Stat(path)
	if err1 != nil || err2 != nil {
		return err2 != nil
	}
	sa, ok1 := a.Sys().(*syscall.Stat_t)
	sb, ok2 := b.Sys().(*syscall.Stat_t)
	return ok1 && ok2 && sa.Ino != sb.Ino
}

type logWriter struct {
	w    io.Writer
	tty  bool
	opts LogsOptions
	buf  []byte
}

func (l *logWriter) write(e shim.LogEntry) error {
	l.buf = l.buf[:0]
	if l.opts.Timestamps {
		l.buf = append(l.buf, e.Time.UTC().Format("2006-01-02T15:04:05.000000000Z")...)
		l.buf = append(l.buf, ' ')
	}
	l.buf = append(l.buf, e.Log...)
	if l.tty {
		_, err := l.w.Write(l.buf)
		return err
	}
	stream := byte(shim.StreamStdout)
	if e.Stream == "stderr" {
		stream = shim.StreamStderr
	}
	return shim.WriteFrame(l.w, stream, l.buf)
}
