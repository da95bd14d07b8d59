package build

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-project/berth/internal/build"
	"github.com/berth-project/berth/internal/errdefs"
)

type entrySpec struct {
	name, data, link string
	typ              byte
	mode             int64
}

func contextTar(t *testing.T, entries []entrySpec) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, Size: int64(len(e.data))}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.data))
		}
	}
	tw.Close()
	return &buf
}

func readTestContext(t *testing.T, entries []entrySpec) *contextFS {
	t.Helper()
	c, err := readContext(context.Background(), &chunkPool{}, t.TempDir(), contextTar(t, entries))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestContextLookupStaysInside: symlinks are followed inside the context
// only; ".." and absolute targets end at its root.
func TestContextLookupStaysInside(t *testing.T) {
	c := readTestContext(t, []entrySpec{
		{name: "dir/", typ: tar.TypeDir},
		{name: "dir/file", typ: tar.TypeReg, data: "in dir"},
		{name: "top", typ: tar.TypeReg, data: "top file"},
		{name: "up", typ: tar.TypeSymlink, link: "../../../top"},
		{name: "abs", typ: tar.TypeSymlink, link: "/dir/file"},
		{name: "loop", typ: tar.TypeSymlink, link: "loop"},
		{name: "hard", typ: tar.TypeLink, link: "top"},
		{name: "implicit/deep/x", typ: tar.TypeReg, data: "x"},
	})
	for p, want := range map[string]string{"up": "top file", "abs": "in dir", "hard": "top file", "dir/../top": "top file", "implicit/deep/x": "x"} {
		b, err := c.ReadFile(p)
		if err != nil || string(b) != want {
			t.Errorf("%s: %q %v, want %q", p, b, err, want)
		}
	}
	if _, err := c.ReadFile("loop"); err == nil {
		t.Error("a symlink loop resolved")
	}
	if _, err := c.ReadFile("nope"); err == nil {
		t.Error("a missing file resolved")
	}
	if e := c.entries["implicit/deep"]; e == nil || e.typ != tar.TypeDir {
		t.Error("implicit parent directories are missing")
	}
	if c.entries["hard"].sum != c.entries["top"].sum || c.entries["top"].sum == "" {
		t.Error("a hardlink does not share its target's digest")
	}
}

// TestContextSources: wildcards, directories, digests that ignore times,
// and Docker's errors.
func TestContextSources(t *testing.T) {
	c := readTestContext(t, []entrySpec{
		{name: "a.txt", typ: tar.TypeReg, data: "A"},
		{name: "b.txt", typ: tar.TypeReg, data: "B"},
		{name: "c.md", typ: tar.TypeReg, data: "C"},
		{name: "src/x.go", typ: tar.TypeReg, data: "package x"},
		{name: "src/.wh.evil", typ: tar.TypeReg, data: "whiteout name"},
	})
	s, err := contextSources(c, build.SourceRequest{Paths: []string{"*.txt", "src"}, Cmd: "COPY"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Count() != 3 {
		t.Errorf("count %d, want 3 (a.txt, b.txt, src)", s.Count())
	}
	var paths []string
	for _, f := range s.Files() {
		paths = append(paths, f.Path)
	}
	if got := strings.Join(paths, " "); got != "a.txt b.txt src src/.wh.evil src/x.go" {
		t.Errorf("files %q", got)
	}
	// Same content, other times: the same digest; other content: another.
	c2 := readTestContext(t, []entrySpec{
		{name: "a.txt", typ: tar.TypeReg, data: "A"},
		{name: "b.txt", typ: tar.TypeReg, data: "B2"},
	})
	s1, _ := contextSources(c, build.SourceRequest{Paths: []string{"a.txt"}, Cmd: "COPY"}, nil)
	s2, _ := contextSources(c2, build.SourceRequest{Paths: []string{"a.txt"}, Cmd: "COPY"}, nil)
	s3, _ := contextSources(c2, build.SourceRequest{Paths: []string{"b.txt"}, Cmd: "COPY"}, nil)
	s4, _ := contextSources(c, build.SourceRequest{Paths: []string{"b.txt"}, Cmd: "COPY"}, nil)
	if s1.Digest() != s2.Digest() || s3.Digest() == s4.Digest() {
		t.Errorf("digests: same content %v, different content %v", s1.Digest() == s2.Digest(), s3.Digest() != s4.Digest())
	}
	_, err = contextSources(c, build.SourceRequest{Paths: []string{"missing"}, Cmd: "COPY"}, nil)
	if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "COPY failed: file not found in build context or excluded by .dockerignore: stat missing: file does not exist") {
		t.Errorf("missing source: %v", err)
	}
	_, err = contextSources(c, build.SourceRequest{Paths: []string{"http://example.com/x"}, Cmd: "COPY"}, nil)
	if !strings.Contains(err.Error(), "source can't be a URL for COPY") {
		t.Errorf("URL in COPY: %v", err)
	}
	// A file named like a whiteout cannot go into a layer.
	p := &planner{view: t.TempDir(), made: map[string]bool{}, cmd: "COPY"}
	if err := p.addRoot(s.roots[2], "/dst/"); err == nil || !strings.Contains(err.Error(), ".wh.") {
		t.Errorf("whiteout-named file: %v", err)
	}
}

// TestCacheStoreIgnoresTornRecords: a record cut short by a crash reads
// as a miss.
func TestCacheStoreIgnoresTornRecords(t *testing.T) {
	c, err := openCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	key := "sha256:" + strings.Repeat("ab", 32)
	if err := c.put(digestOf(key), digestOf(key), storedRecord{CacheRecord: build.CacheRecord{Instruction: "RUN x"}}); err != nil {
		t.Fatal(err)
	}
	if r, ok := c.get(digestOf(key)); !ok || r.Instruction != "RUN x" {
		t.Fatalf("get: %+v %v", r, ok)
	}
	if err := writeFileRename(c.path("steps", digestOf(key)), []byte(`{"layer":{"Dif`)); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.get(digestOf(key)); ok {
		t.Error("a torn record was a hit")
	}
}

func digestOf(s string) digest.Digest { return digest.Digest(s) }
