package containers

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"strconv"
	"syscall"
	"time"

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

// Logs writes the container's json-file log to w (multiplexed frames, or
// raw for a terminal), then, with Follow, new lines until the container
// stops or ctx ends. flush, when set, is called after each batch.
func (s *Service) Logs(ctx context.Context, ref string, opts LogsOptions, w io.Writer, flush func()) error {
	c, err := s.store.Get(ref)
	if err != nil {
		return err
	}
	if c.LogPath == "" {
		return errdefs.InvalidArgumentf("configured logging driver does not support reading")
	}
	if !opts.Stdout && !opts.Stderr {
		return errdefs.InvalidArgumentf("Bad parameters: you must choose at least one stream")
	}
	lw := &logWriter{w: w, tty: c.Config.Tty, opts: opts}
	var entries []shim.LogEntry
	for _, p := range logFiles(c.LogPath, s.cfg.LogMaxFiles+8) {
		if p == c.LogPath {
			continue
		}
		entries = readEntries(p, entries, opts)
	}
	cur, err := os.Open(c.LogPath)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	var br *lineReader
	if cur != nil {
		defer func() { cur.Close() }()
		br = newLineReader(cur)
		entries = readFrom(br, entries, opts)
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
			if f, err := os.Open(c.LogPath); err == nil {
				cur, br = f, newLineReader(f)
			}
		}
		if cur != nil {
			for _, e := range readFrom(br, nil, opts) {
				if err := lw.write(e); err != nil {
					return nil
				}
			}
			if rotated(cur, c.LogPath) {
				for _, e := range readFrom(br, nil, opts) {
					if err := lw.write(e); err != nil {
						return nil
					}
				}
				cur.Close()
				cur, br = nil, nil
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

// logFiles lists the rotated files oldest first, then the current one.
func logFiles(path string, max int) []string {
	var out []string
	for i := max; i >= 1; i-- {
		p := path + "." + strconv.Itoa(i)
		if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		}
	}
	return append(out, path)
}

func readEntries(path string, entries []shim.LogEntry, opts LogsOptions) []shim.LogEntry {
	f, err := os.Open(path)
	if err != nil {
		return entries
	}
	defer f.Close()
	return readFrom(newLineReader(f), entries, opts)
}

// lineReader reads complete lines of a growing file; a partial last
// line waits for its end.
type lineReader struct {
	r     io.Reader
	buf   []byte
	chunk []byte
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: r, chunk: make([]byte, 64*1024)}
}

// readFrom appends the entries of the lines available now that opts
// selects.
func readFrom(lr *lineReader, entries []shim.LogEntry, opts LogsOptions) []shim.LogEntry {
	for {
		n, err := lr.r.Read(lr.chunk)
		lr.buf = append(lr.buf, lr.chunk[:n]...)
		for {
			i := bytes.IndexByte(lr.buf, '\n')
			if i < 0 {
				break
			}
			line := lr.buf[:i+1]
			var e shim.LogEntry
			if json.Unmarshal(line, &e) == nil && selected(e, opts) {
				entries = append(entries, e)
			}
			lr.buf = lr.buf[i+1:]
		}
		if err != nil || n == 0 {
			lr.buf = append([]byte(nil), lr.buf...)
			return entries
		}
	}
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
