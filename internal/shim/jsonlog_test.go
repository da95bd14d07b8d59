package shim

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestJSONLogRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	l, err := OpenJSONLog(path, 300, 3)
	if err != nil {
		t.Fatal(err)
	}
	lw := &lineWriter{log: l, stream: "stdout"}
	for i := 0; i < 40; i++ {
		lw.write([]byte("hello rotation line\n"))
	}
	lw.write([]byte("partial"))
	lw.flush()
	l.Close()
	for _, p := range []string{path, path + ".1", path + ".2"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if st.Size() > 300 {
			t.Fatalf("%s is %d bytes, over max-size", p, st.Size())
		}
	}
	if _, err := os.Stat(path + ".3"); !os.IsNotExist(err) {
		t.Fatal("more files than max-file")
	}
	f, _ := os.Open(path)
	defer f.Close()
	var last LogEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			t.Fatalf("bad line %q: %v", sc.Text(), err)
		}
	}
	if last.Log != "partial" || last.Stream != "stdout" || time.Since(last.Time) > time.Minute {
		t.Fatalf("last entry %+v", last)
	}
}

func TestLineWriterSplitsLongLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	l, err := OpenJSONLog(path, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	lw := &lineWriter{log: l, stream: "stderr"}
	lw.write([]byte(strings.Repeat("x", maxLine+10) + "\n"))
	l.Close()
	b, _ := os.ReadFile(path)
	if n := strings.Count(string(b), "\n"); n != 2 {
		t.Fatalf("%d entries, want 2", n)
	}
}
