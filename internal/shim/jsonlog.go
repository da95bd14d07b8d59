package shim

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// LogEntry is one line of Docker's json-file log format.
type LogEntry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// JSONLog writes Docker's json-file format and rotates by size: path,
// path.1, ... path.(maxFiles-1).
type JSONLog struct {
	mu       sync.Mutex
	path     string
	maxSize  int64
	maxFiles int
	f        *os.File
	size     int64
}

// OpenJSONLog opens (appending to) the log at path.
func OpenJSONLog(path string, maxSize int64, maxFiles int) (*JSONLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat log: %w", err)
	}
	if maxFiles < 1 {
		maxFiles = 1
	}
	return &JSONLog{path: path, maxSize: maxSize, maxFiles: maxFiles, f: f, size: st.Size()}, nil
}

// Write logs one message of stream ("stdout"/"stderr").
func (l *JSONLog) Write(stream string, msg []byte, t time.Time) error {
	b, err := json.Marshal(LogEntry{Log: string(msg), Stream: stream, Time: t.UTC()})
	if err != nil {
		return err
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.maxSize > 0 && l.size > 0 && l.size+int64(len(b)) > l.maxSize {
		if err := l.rotate(); err != nil {
			return err
		}
	}
	n, err := l.f.Write(b)
	l.size += int64(n)
	return err
}

func (l *JSONLog) rotate() error {
	if err := l.f.Close(); err != nil {
		return err
	}
	if l.maxFiles > 1 {
		for i := l.maxFiles - 1; i > 1; i-- {
			os.Rename(l.path+"."+strconv.Itoa(i-1), l.path+"."+strconv.Itoa(i))
		}
		if err := os.Rename(l.path, l.path+".1"); err != nil {
			return fmt.Errorf("rotate log: %w", err)
		}
	}
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	l.f, l.size = f, 0
	return nil
}

// Close closes the current file.
func (l *JSONLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}

// lineWriter splits a byte stream into log entries at newlines (long lines
// are cut at maxLine).
type lineWriter struct {
	log    *JSONLog
	stream string
	buf    []byte
}

const maxLine = 16 * 1024

func (w *lineWriter) write(p []byte) {
	if w.log == nil {
		return
	}
	w.buf = append(w.buf, p...)
	for {
		i := indexByte(w.buf, '\n')
		if (i < 0 || i >= maxLine) && len(w.buf) >= maxLine {
			w.emit(w.buf[:maxLine])
			w.buf = append(w.buf[:0], w.buf[maxLine:]...)
			continue
		}
		if i < 0 {
			return
		}
		w.emit(w.buf[:i+1])
		w.buf = append(w.buf[:0], w.buf[i+1:]...)
	}
}

func (w *lineWriter) flush() {
	if w.log != nil && len(w.buf) > 0 {
		w.emit(w.buf)
		w.buf = w.buf[:0]
	}
}

func (w *lineWriter) emit(b []byte) {
	_ = w.log.Write(w.stream, b, time.Now())
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
