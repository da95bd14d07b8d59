package content

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	digest "github.com/opencontainers/go-digest"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestWriteVerifyAndRead(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	data := []byte("hello blob")
	want := digest.FromBytes(data)

	w, err := s.Writer(ctx, "ref1", want, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	got, err := w.Commit(ctx, map[string]string{"a": "b"})
	if err != nil || got != want {
		t.Fatalf("commit: %v %v", got, err)
	}
	info, err := s.Info(ctx, want)
	if err != nil || info.Size != int64(len(data)) || info.Labels["a"] != "b" {
		t.Fatalf("info %+v %v", info, err)
	}
	b, err := s.ReadBlob(ctx, want)
	if err != nil || !bytes.Equal(b, data) {
		t.Fatalf("read %q %v", b, err)
	}
	ra, err := s.ReaderAt(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 4)
	if _, err := ra.ReadAt(p, 6); err != nil || string(p) != "blob" || ra.Size() != int64(len(data)) {
		t.Fatalf("readat %q %v", p, err)
	}
	ra.Close()
	// Second writer of the same digest finds it.
	if _, err := s.Writer(ctx, "ref2", want, 0); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("second writer: %v", err)
	}
	// Nothing left in ingest.
	if ents, _ := os.ReadDir(filepath.Join(s.Root(), "ingest")); len(ents) != 0 {
		t.Fatalf("ingest not cleaned: %v", ents)
	}
}

func TestWrongDigestRejected(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	claimed := digest.FromString("something else")
	_, _, err := s.WriteBlob(ctx, "bad", strings.NewReader("actual data"), claimed, 0, nil)
	if !errors.Is(err, ErrFailedPrecondition) {
		t.Fatalf("want failed precondition, got %v", err)
	}
	if s.Exists(claimed) || s.Exists(digest.FromString("actual data")) {
		t.Fatal("a blob became visible")
	}
	// Wrong size.
	_, _, err = s.WriteBlob(ctx, "short", strings.NewReader("abc"), digest.FromString("abc"), 4, nil)
	if !errors.Is(err, ErrFailedPrecondition) {
		t.Fatalf("want size mismatch, got %v", err)
	}
	_, _, err = s.WriteBlob(ctx, "long", strings.NewReader("abcde"), digest.FromString("abcde"), 4, nil)
	if !errors.Is(err, ErrFailedPrecondition) {
		t.Fatalf("want overlong rejected, got %v", err)
	}
	n := 0
	s.Walk(ctx, func(Info) error { n++; return nil })
	if n != 0 {
		t.Fatalf("%d blobs visible after failed writes", n)
	}
	if _, err := s.Info(ctx, "sha256:zz"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad digest: %v", err)
	}
	if _, err := s.Open(ctx, claimed); !errors.Is(err, ErrNotFound) {
		t.Fatalf("open missing: %v", err)
	}
}

func TestSHA512(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	d := digest.SHA512.FromString("x512")
	if _, _, err := s.WriteBlob(ctx, "r", strings.NewReader("x512"), d, 4, nil); err != nil {
		t.Fatal(err)
	}
	if !s.Exists(d) {
		t.Fatal("sha512 blob missing")
	}
	if _, err := os.Stat(filepath.Join(s.Root(), "blobs", "sha512", d.Encoded())); err != nil {
		t.Fatal(err)
	}
}

func TestResumeIngest(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	data := bytes.Repeat([]byte("0123456789"), 1000)
	want := digest.FromBytes(data)
	w, err := s.Writer(ctx, "resume", want, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data[:3000])
	w.Close() // as if the process died
	if s.Exists(want) {
		t.Fatal("partial blob visible")
	}
	w, err = s.Writer(ctx, "resume", want, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if w.Offset() != 3000 {
		t.Fatalf("offset %d", w.Offset())
	}
	w.Write(data[3000:])
	if _, err := w.Commit(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := s.ReadBlob(ctx, want); !bytes.Equal(b, data) {
		t.Fatal("resumed blob differs")
	}
}

func TestIngestRefIsExclusive(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	w, err := s.Writer(ctx, "same", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := s.Writer(ctx, "same", "", 0); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("want unavailable, got %v", err)
	}
}

func TestConcurrentWritersOfOneBlob(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	data := bytes.Repeat([]byte("concurrent"), 50000)
	want := digest.FromBytes(data)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ref := fmt.Sprintf("writer-%d", i)
			expected := want
			if i%2 == 1 {
				expected = "" // some writers do not know the digest up front
			}
			w, err := s.Writer(ctx, ref, expected, 0)
			if errors.Is(err, ErrAlreadyExists) {
				return
			}
			if err != nil {
				errs <- err
				return
			}
			for off := 0; off < len(data); off += 7000 {
				w.Write(data[off:min(off+7000, len(data))])
			}
			d, err := w.Commit(ctx, nil)
			if err != nil && !errors.Is(err, ErrAlreadyExists) {
				errs <- err
				return
			}
			if d != want {
				errs <- fmt.Errorf("writer %d committed %s", i, d)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	b, err := s.ReadBlob(ctx, want)
	if err != nil || !bytes.Equal(b, data) {
		t.Fatalf("blob: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Root(), "ingest")); len(ents) != 0 {
		t.Fatalf("ingests left: %d", len(ents))
	}
}

func TestLabelsAndDelete(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	d, err := s.WriteBytes(ctx, []byte("labelled"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateLabels(ctx, d, map[string]string{"x": "1", "y": "2"}); err != nil {
		t.Fatal(err)
	}
	l, err := s.UpdateLabels(ctx, d, map[string]string{"x": ""})
	if err != nil || len(l) != 1 || l["y"] != "2" {
		t.Fatalf("labels %v %v", l, err)
	}
	if err := s.Delete(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, d); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := s.UpdateLabels(ctx, d, map[string]string{"x": "1"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("labels on missing: %v", err)
	}
}

func writeJSON(t *testing.T, s *Store, v any) digest.Digest {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.WriteBytes(context.Background(), b, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestGarbageCollect(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	layer := writeJSON(t, s, "layer-bytes")
	config := writeJSON(t, s, map[string]any{"architecture": "amd64", "os": "linux"})
	manifest := writeJSON(t, s, map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 1},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": 1}},
	})
	index := writeJSON(t, s, map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.docker.distribution.manifest.list.v2+json",
		"manifests":     []any{map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest, "size": 1}},
	})
	orphan := writeJSON(t, s, "orphan")
	pinned := writeJSON(t, s, "pinned")
	s.UpdateLabels(ctx, pinned, map[string]string{LabelGCRoot: "1"})
	viaLabel := writeJSON(t, s, "referenced by label")
	s.UpdateLabels(ctx, pinned, map[string]string{LabelGCRefContent + "x": viaLabel.String()})

	// A stale unheld ingest goes, a held one stays.
	stale, _ := s.Writer(ctx, "stale", "", 0)
	stale.Write([]byte("partial"))
	stale.Close()
	held, _ := s.Writer(ctx, "held", "", 0)
	held.Write([]byte("partial"))
	defer held.Close()

	res, err := s.GarbageCollect(ctx, []digest.Digest{index, digest.FromString("missing root")}, GCOptions{StaleIngest: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Removed) != 1 || res.Removed[0] != orphan {
		t.Fatalf("removed %v, want only %s", res.Removed, orphan)
	}
	if res.IngestsRemoved != 1 {
		t.Fatalf("ingests removed %d", res.IngestsRemoved)
	}
	for _, d := range []digest.Digest{layer, config, manifest, index, pinned, viaLabel} {
		if !s.Exists(d) {
			t.Errorf("%s collected", d)
		}
	}
	// Dropping the root collects the whole tree.
	res, err = s.GarbageCollect(ctx, nil, GCOptions{StaleIngest: -1})
	if err != nil || len(res.Removed) != 4 {
		t.Fatalf("second gc removed %v %v", res.Removed, err)
	}
}

func TestLeaseBlocksGC(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	lease, err := s.Lease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := s.WriteBytes(ctx, []byte("new, unreferenced yet"), nil)
	done := make(chan GCResult)
	go func() {
		res, _ := s.GarbageCollect(ctx, nil, GCOptions{})
		done <- res
	}()
	// Reference the blob (here: make it a root) before ending the lease.
	s.UpdateLabels(ctx, d, map[string]string{LabelGCRoot: "1"})
	lease.Release()
	res := <-done
	if len(res.Removed) != 0 || !s.Exists(d) {
		t.Fatalf("gc removed leased blob: %v", res.Removed)
	}
}

func TestWalk(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	want := map[digest.Digest]bool{}
	for i := range 5 {
		d, _ := s.WriteBytes(ctx, []byte(fmt.Sprint("blob", i)), nil)
		want[d] = true
	}
	err := s.Walk(ctx, func(i Info) error {
		if !want[i.Digest] {
			return fmt.Errorf("unexpected %s", i.Digest)
		}
		delete(want, i.Digest)
		return nil
	})
	if err != nil || len(want) != 0 {
		t.Fatalf("walk: %v, missing %v", err, want)
	}
}

func TestUsage(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	s.WriteBytes(ctx, []byte("12345"), nil)
	s.WriteBytes(ctx, []byte("123"), nil)
	w, _ := s.Writer(ctx, "partial", "", 0)
	w.Write([]byte("ab"))
	w.Close()
	u, err := s.Usage(ctx)
	if err != nil || u.Blobs != 2 || u.BlobBytes != 8 || u.IngestBytes != 2 {
		t.Fatalf("usage %+v %v", u, err)
	}
}

func TestSetExpectedLate(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	data := []byte("digest known only at the end")
	for _, want := range []digest.Digest{digest.FromBytes(data), digest.SHA512.FromBytes(data)} {
		w, err := s.Writer(ctx, "late-"+want.Algorithm().String(), "", 0)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data[:5])
		w.Write(data[5:])
		if err := w.SetExpected(want, int64(len(data))); err != nil {
			t.Fatal(err)
		}
		got, err := w.Commit(ctx, nil)
		if err != nil || got != want || !s.Exists(want) {
			t.Fatalf("%s: commit %v %v", want.Algorithm(), got, err)
		}
	}
	// A wrong late digest is refused and leaves nothing.
	w, err := s.Writer(ctx, "late-wrong", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("other data"))
	wrong := digest.SHA512.FromString("not it")
	if err := w.SetExpected(wrong, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(ctx, nil); !errors.Is(err, ErrFailedPrecondition) || s.Exists(wrong) {
		t.Fatalf("wrong digest: %v", err)
	}
}
