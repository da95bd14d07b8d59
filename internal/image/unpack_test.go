package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/mount"
	"github.com/berth-project/berth/internal/snapshot"
	"github.com/berth-project/berth/internal/snapshot/overlay"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
)

// dirSnapshotter is a minimal test double: every snapshot is a directory
// holding only its own layer (UpperDir), which is enough to check chain
// naming, skipping, verification and commit races of Unpack.
type dirSnapshotter struct {
	root     string
	mu       sync.Mutex
	snaps    map[string]snapshot.Info
	prepares int
}

func newDirSnapshotter(t *testing.T) *dirSnapshotter {
	return &dirSnapshotter{root: t.TempDir(), snaps: map[string]snapshot.Info{}}
}

func (d *dirSnapshotter) Prepare(ctx context.Context, key, parent string, labels map[string]string) ([]mount.Mount, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.snaps[key]; ok {
		return nil, fmt.Errorf("%s: %w", key, snapshot.ErrAlreadyExists)
	}
	if p, ok := d.snaps[parent]; parent != "" && (!ok || p.Kind != snapshot.KindCommitted) {
		return nil, fmt.Errorf("parent %s: %w", parent, snapshot.ErrNotFound)
	}
	d.prepares++
	d.snaps[key] = snapshot.Info{Name: key, Parent: parent, Kind: snapshot.KindActive}
	return nil, os.MkdirAll(filepath.Join(d.root, key), 0o755)
}
func (d *dirSnapshotter) View(ctx context.Context, key, parent string, labels map[string]string) ([]mount.Mount, error) {
	return nil, errors.New("unused")
}
func (d *dirSnapshotter) Mounts(ctx context.Context, key string) ([]mount.Mount, error) {
	return nil, errors.New("unused")
}
func (d *dirSnapshotter) Commit(ctx context.Context, name, key string, labels map[string]string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.snaps[name]; ok {
		return fmt.Errorf("%s: %w", name, snapshot.ErrAlreadyExists)
	}
	info, ok := d.snaps[key]
	if !ok {
		return fmt.Errorf("%s: %w", key, snapshot.ErrNotFound)
	}
	delete(d.snaps, key)
	info.Name, info.Kind, info.Labels = name, snapshot.KindCommitted, labels
	d.snaps[name] = info
	return os.Rename(filepath.Join(d.root, key), filepath.Join(d.root, name))
}
func (d *dirSnapshotter) Stat(ctx context.Context, key string) (snapshot.Info, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if i, ok := d.snaps[key]; ok {
		return i, nil
	}
	return snapshot.Info{}, fmt.Errorf("%s: %w", key, snapshot.ErrNotFound)
}
func (d *dirSnapshotter) Usage(ctx context.Context, key string) (snapshot.Usage, error) {
	return snapshot.Usage{}, nil
}
func (d *dirSnapshotter) Remove(ctx context.Context, key string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.snaps[key]; !ok {
		return fmt.Errorf("%s: %w", key, snapshot.ErrNotFound)
	}
	delete(d.snaps, key)
	return os.RemoveAll(filepath.Join(d.root, key))
}
func (d *dirSnapshotter) Walk(ctx context.Context, fn func(snapshot.Info) error) error {
	d.mu.Lock()
	var infos []snapshot.Info
	for _, i := range d.snaps {
		infos = append(infos, i)
	}
	d.mu.Unlock()
	sort.Slice(infos, func(i, j int) bool { return infos[i].Name < infos[j].Name })
	for _, i := range infos {
		if err := fn(i); err != nil {
			return err
		}
	}
	return nil
}
func (d *dirSnapshotter) UpperDir(ctx context.Context, key string) (string, bool, error) {
	return filepath.Join(d.root, key), false, nil
}
func (d *dirSnapshotter) Close() error { return nil }

func TestUnpackChainsAndSkips(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	a, b := twoImages(t)
	loadBytes(t, s, ociArchive(t, false, a, b)) // gzip layers
	sn := newDirSnapshotter(t)
	top, err := s.Unpack(ctx, sn, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	diffIDs := []digest.Digest{digest.FromBytes(a.layers[0]), digest.FromBytes(a.layers[1])}
	if top != identity.ChainID(diffIDs) {
		t.Fatalf("top chain %s", top)
	}
	if got, _ := os.ReadFile(filepath.Join(sn.root, top.String(), "etc", "a")); string(got) != "a" {
		t.Fatalf("layer content %q", got)
	}
	// user/app shares the base layer: only its second layer is unpacked.
	before := sn.prepares
	if _, err := s.Unpack(ctx, sn, "user/app:v1"); err != nil {
		t.Fatal(err)
	}
	if sn.prepares-before != 1 {
		t.Fatalf("%d layers unpacked, want 1 (base shared)", sn.prepares-before)
	}
	n := 0
	sn.Walk(ctx, func(i snapshot.Info) error {
		if i.Kind != snapshot.KindCommitted {
			t.Errorf("left over snapshot %+v", i)
		}
		n++
		return nil
	})
	if n != 3 {
		t.Fatalf("%d snapshots, want 3", n)
	}
}

func TestUnpackConcurrentAndVerify(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	a, _ := twoImages(t)
	loadBytes(t, s, dockerArchive(t, a))
	sn := newDirSnapshotter(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	tops := make([]digest.Digest, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tops[i], errs[i] = s.Unpack(ctx, sn, "busybox")
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil || tops[i] != tops[0] {
			t.Fatalf("unpack %d: %s %v", i, tops[i], err)
		}
	}
	sn.Walk(ctx, func(i snapshot.Info) error {
		if i.Kind != snapshot.KindCommitted {
			t.Errorf("left over snapshot %+v", i)
		}
		return nil
	})

	// A manifest whose config lies about a diff ID is refused.
	img, _ := s.Get(ctx, "busybox")
	r, err := Resolve(ctx, s.Content(), img.Target, s.Platform())
	if err != nil {
		t.Fatal(err)
	}
	r.Manifest.Layers[0], r.Manifest.Layers[1] = r.Manifest.Layers[1], r.Manifest.Layers[0]
	if _, err := Unpack(ctx, s.Content(), newDirSnapshotter(t), r.Manifest); !errors.Is(err, ErrFailedPrecondition) {
		t.Fatalf("want diff ID mismatch, got %v", err)
	}
}

// TestUnpackOverlay unpacks into the real overlay snapshotter and mounts
// the result (needs root and overlayfs).
func TestUnpackOverlay(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	ctx := context.Background()
	sn, err := overlay.NewOverlay(t.TempDir())
	if err != nil {
		t.Skipf("overlay snapshotter unavailable: %v", err)
	}
	defer sn.Close()
	s := newTestStore(t)
	base := makeLayer(t, map[string]string{"bin/": "", "bin/hello": "hi", "etc/": "", "etc/gone": "x"})
	top := whiteoutLayer(t)
	img := testImage{tags: []string{"ov:1"}, layers: [][]byte{base, top}}
	loadBytes(t, s, ociArchive(t, false, img))
	var wg sync.WaitGroup
	chains := make([]digest.Digest, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); chains[i], errs[i] = s.Unpack(ctx, sn, "ov:1") }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	mounts, err := sn.Prepare(ctx, "container", chains[0].String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Remove(ctx, "container")
	target := t.TempDir()
	if err := mount.All(mounts, target); err != nil {
		t.Fatal(err)
	}
	defer mount.UnmountAll(target)
	if b, err := os.ReadFile(filepath.Join(target, "bin", "hello")); err != nil || string(b) != "hi" {
		t.Fatalf("bin/hello: %q %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(target, "etc", "new")); err != nil || string(b) != "new" {
		t.Fatalf("etc/new: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(target, "etc", "gone")); !os.IsNotExist(err) {
		t.Fatalf("whiteout not applied: %v", err)
	}
}

func whiteoutLayer(t *testing.T) []byte {
	return makeLayer(t, map[string]string{"etc/": "", "etc/.wh.gone": "", "etc/new": "new"})
}

// TestUnpackBusyboxRuns unpacks a busybox image into overlay snapshots,
// mounts a container snapshot and runs a program from it with chroot.
func TestUnpackBusyboxRuns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	ctx := context.Background()
	sn, err := overlay.NewOverlay(t.TempDir())
	if err != nil {
		t.Skipf("overlay snapshotter unavailable: %v", err)
	}
	defer sn.Close()
	s := newTestStore(t)
	loadBytes(t, s, dockerArchive(t, busyboxImage(t, "bb")))
	chain, err := s.Unpack(ctx, sn, "bb")
	if err != nil {
		t.Fatal(err)
	}
	mounts, err := sn.Prepare(ctx, "ctr", chain.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Remove(ctx, "ctr")
	target := t.TempDir()
	if err := mount.All(mounts, target); err != nil {
		t.Fatal(err)
	}
	defer mount.UnmountAll(target)
	out, err := exec.Command("chroot", target, "/bin/sh", "-c", "cat /etc/motd; echo changed > /etc/motd").CombinedOutput()
	if err != nil || string(out) != "hello from berth\n" {
		t.Fatalf("chroot run: %q %v", out, err)
	}
	// The write went to the container's layer, not the image's.
	mounts2, err := sn.Prepare(ctx, "ctr2", chain.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Remove(ctx, "ctr2")
	target2 := t.TempDir()
	if err := mount.All(mounts2, target2); err != nil {
		t.Fatal(err)
	}
	defer mount.UnmountAll(target2)
	if b, err := os.ReadFile(filepath.Join(target2, "etc", "motd")); err != nil || string(b) != "hello from berth\n" {
		t.Fatalf("image layer changed: %q %v", b, err)
	}
}

// treeOf describes every file under root: type, mode, owner, content.
func treeOf(t *testing.T, root string) map[string]string {
	out := map[string]string{}
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		desc := fi.Mode().String()
		if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			desc += " " + string(b)
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			l, _ := os.Readlink(p)
			desc += " -> " + l
		}
		out[rel] = desc
		return nil
	})
	return out
}

// TestLoadWithUnpack loads images ready to run, on overlay and on a plain
// snapshotter.
func TestLoadWithUnpack(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	ctx := context.Background()
	img := testImage{tags: []string{"multi:1"}, layers: [][]byte{
		makeLayer(t, map[string]string{"a/": "", "a/1": "one", "a/2": "two", "b/": "", "b/x": "x", "c": "c"}),
		makeLayer(t, map[string]string{"a/": "", "a/.wh.1": "", "d/": "", "d/new": "new"}),
		makeLayer(t, map[string]string{"b/": "", "b/.wh..wh..opq": "", "b/y": "y", ".wh.c": ""}),
	}}
	other := testImage{tags: []string{"other:1"}, layers: [][]byte{img.layers[0], makeLayer(t, map[string]string{"o": "o"})}}
	var trees []map[string]string
	for _, arc := range [][]byte{dockerArchive(t, img, other), ociArchive(t, false, img, other)} {
		s := newTestStore(t)
		sn, err := overlay.NewOverlay(t.TempDir())
		if err != nil {
			t.Skipf("overlay snapshotter unavailable: %v", err)
		}
		if _, err := s.Load(ctx, bytes.NewReader(arc), WithUnpack(sn)); err != nil {
			t.Fatal(err)
		}
		var names []string
		sn.Walk(ctx, func(i snapshot.Info) error {
			names = append(names, i.Name)
			if i.Kind != snapshot.KindCommitted {
				t.Errorf("left over snapshot %+v", i)
			}
			return nil
		})
		if len(names) != 4 {
			t.Fatalf("snapshots %v, want 4 chains", names)
		}
		// Unpack finds everything in place.
		chain, err := s.Unpack(ctx, sn, "multi:1")
		if err != nil {
			t.Fatal(err)
		}
		mounts, err := sn.View(ctx, "view", chain.String(), nil)
		if err != nil {
			t.Fatal(err)
		}
		target := t.TempDir()
		if err := mount.All(mounts, target); err != nil {
			t.Fatal(err)
		}
		trees = append(trees, treeOf(t, target))
		mount.UnmountAll(target)
		sn.Close()
	}
	want := map[string]string{"a": "drwxr-xr-x", "a/2": "-rw-r--r-- two", "b": "drwxr-xr-x", "b/y": "-rw-r--r-- y", "d": "drwxr-xr-x", "d/new": "-rw-r--r-- new"}
	for i, tree := range trees {
		delete(tree, ".")
		if !reflect.DeepEqual(tree, want) {
			t.Errorf("tree %d: %v", i, tree)
		}
	}
	// Non-overlay snapshotter.
	s := newTestStore(t)
	dsn := newDirSnapshotter(t)
	if _, err := s.Load(ctx, bytes.NewReader(dockerArchive(t, img)), WithUnpack(dsn)); err != nil {
		t.Fatal(err)
	}
	n := 0
	dsn.Walk(ctx, func(i snapshot.Info) error {
		if i.Kind != snapshot.KindCommitted {
			t.Errorf("left over snapshot %+v", i)
		}
		n++
		return nil
	})
	if n != 3 {
		t.Fatalf("%d snapshots on the plain snapshotter, want 3", n)
	}
}

func TestRemoveStaleExtractions(t *testing.T) {
	ctx := context.Background()
	sn := newDirSnapshotter(t)
	sn.Prepare(ctx, "extract-abc-sha256:x", "", nil)
	sn.Prepare(ctx, "container-1", "", nil)
	n, err := RemoveStaleExtractions(ctx, sn, 0)
	if err != nil || n != 1 {
		t.Fatalf("removed %d: %v", n, err)
	}
	if _, err := sn.Stat(ctx, "container-1"); err != nil {
		t.Fatal("removed a container snapshot")
	}
}

// TestUnpackManyLayers unpacks a 130-layer image on overlay and mounts
// it (more lower dirs than fit in one page of mount options by path).
func TestUnpackManyLayers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	ctx := context.Background()
	sn, err := overlay.NewOverlay(t.TempDir())
	if err != nil {
		t.Skipf("overlay snapshotter unavailable: %v", err)
	}
	defer sn.Close()
	s := newTestStore(t)
	img := testImage{tags: []string{"many:1"}}
	for i := range 130 {
		img.layers = append(img.layers, makeLayer(t, map[string]string{"l/": "", fmt.Sprintf("l/%03d", i): fmt.Sprint(i)}))
	}
	if _, err := s.Load(ctx, bytes.NewReader(dockerArchive(t, img)), WithUnpack(sn)); err != nil {
		t.Fatal(err)
	}
	chain, err := s.Unpack(ctx, sn, "many:1")
	if err != nil {
		t.Fatal(err)
	}
	mounts, err := sn.Prepare(ctx, "ctr", chain.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Remove(ctx, "ctr")
	target := t.TempDir()
	if err := mount.All(mounts, target); err != nil {
		t.Fatal(err)
	}
	defer mount.UnmountAll(target)
	entries, err := os.ReadDir(filepath.Join(target, "l"))
	if err != nil || len(entries) != 130 {
		t.Fatalf("%d entries in merged dir: %v", len(entries), err)
	}
}

// TestPruneSnapshots removes the layers of a deleted image but keeps
// shared ones and those under a container's snapshot.
func TestPruneSnapshots(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	ctx := context.Background()
	sn, err := overlay.NewOverlay(t.TempDir())
	if err != nil {
		t.Skipf("overlay snapshotter unavailable: %v", err)
	}
	defer sn.Close()
	s := newTestStore(t)
	a, b := twoImages(t) // share the base layer
	loadBytes(t, s, dockerArchive(t, a, b))
	topA, err := s.Unpack(ctx, sn, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	topB, err := s.Unpack(ctx, sn, "user/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Prepare(ctx, "container-of-b", topB.String(), nil); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"busybox", "localhost:5000/x:y", "user/app:v1"} {
		s.Delete(ctx, n)
	}
	removed, err := s.PruneSnapshots(ctx, sn)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(removed, []string{topA.String()}) {
		t.Fatalf("removed %v, want only %s", removed, topA)
	}
	sn.Remove(ctx, "container-of-b")
	removed, err = s.PruneSnapshots(ctx, sn)
	if err != nil || len(removed) != 2 {
		t.Fatalf("second prune removed %v: %v", removed, err)
	}
}

// TestUnpackKeepsParentDirMetadata: a layer that writes opt/new without
// an opt/ entry must not change opt's owner and mode in the merged view.
func TestUnpackKeepsParentDirMetadata(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	ctx := context.Background()
	sn, err := overlay.NewOverlay(t.TempDir())
	if err != nil {
		t.Skipf("overlay snapshotter unavailable: %v", err)
	}
	defer sn.Close()
	var base bytes.Buffer
	tw := tar.NewWriter(&base)
	tw.WriteHeader(&tar.Header{Name: "opt/", Typeflag: tar.TypeDir, Mode: 0o700, Uid: 1000, Gid: 1000})
	tw.Close()
	var topNoDir bytes.Buffer
	tw = tar.NewWriter(&topNoDir)
	tw.WriteHeader(&tar.Header{Name: "opt/new", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1})
	tw.Write([]byte("n"))
	tw.Close()
	s := newTestStore(t)
	loadBytes(t, s, dockerArchive(t, testImage{tags: []string{"p:1"}, layers: [][]byte{base.Bytes(), topNoDir.Bytes()}}))
	chain, err := s.Unpack(ctx, sn, "p:1")
	if err != nil {
		t.Fatal(err)
	}
	mounts, err := sn.View(ctx, "v", chain.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	if err := mount.All(mounts, target); err != nil {
		t.Fatal(err)
	}
	defer mount.UnmountAll(target)
	fi, err := os.Stat(filepath.Join(target, "opt"))
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o700 || st.Uid != 1000 {
		t.Fatalf("opt is %v uid %d, want drwx------ uid 1000", fi.Mode(), st.Uid)
	}
}

// TestLoadEarlyUnpackKeepsParentDirMetadata: layers unpacked while the
// archive loads, before their parents are known, still give directories
// they do not describe their parents' owner and mode, and the result is
// the tree a one-by-one unpack makes.
func TestLoadEarlyUnpackKeepsParentDirMetadata(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	ctx := context.Background()
	var base bytes.Buffer
	tw := tar.NewWriter(&base)
	tw.WriteHeader(&tar.Header{Name: "opt/", Typeflag: tar.TypeDir, Mode: 0o700, Uid: 1000, Gid: 1000, ModTime: time.Unix(1600000000, 0)})
	tw.WriteHeader(&tar.Header{Name: "opt/sub/", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 7, Gid: 7, ModTime: time.Unix(1600000000, 0)})
	tw.Close()
	var top bytes.Buffer
	tw = tar.NewWriter(&top)
	tw.WriteHeader(&tar.Header{Name: "opt/sub/deep/new", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1})
	tw.Write([]byte("n"))
	tw.Close()
	arc := dockerArchive(t, testImage{tags: []string{"p:1"}, layers: [][]byte{base.Bytes(), top.Bytes()}})
	var trees []map[string]string
	for _, early := range []bool{true, false} {
		s := newTestStore(t)
		sn, err := overlay.NewOverlay(t.TempDir())
		if err != nil {
			t.Skipf("overlay snapshotter unavailable: %v", err)
		}
		defer sn.Close()
		var chain digest.Digest
		if early {
			if _, err := s.Load(ctx, bytes.NewReader(arc), WithUnpack(sn)); err != nil {
				t.Fatal(err)
			}
			sn.Walk(ctx, func(i snapshot.Info) error {
				if i.Kind != snapshot.KindCommitted {
					t.Errorf("left over snapshot %+v", i)
				}
				return nil
			})
		} else {
			loadBytes(t, s, arc)
		}
		if chain, err = s.Unpack(ctx, sn, "p:1"); err != nil {
			t.Fatal(err)
		}
		mounts, err := sn.View(ctx, "v", chain.String(), nil)
		if err != nil {
			t.Fatal(err)
		}
		target := t.TempDir()
		if err := mount.All(mounts, target); err != nil {
			t.Fatal(err)
		}
		defer mount.UnmountAll(target)
		for _, c := range []struct {
			path string
			mode os.FileMode
			uid  uint32
		}{{"opt", 0o700, 1000}, {"opt/sub", 0o750, 7}} {
			fi, err := os.Stat(filepath.Join(target, c.path))
			if err != nil {
				t.Fatal(err)
			}
			if st := fi.Sys().(*syscall.Stat_t); fi.Mode().Perm() != c.mode || st.Uid != c.uid {
				t.Errorf("early=%v: %s is %v uid %d, want %v uid %d", early, c.path, fi.Mode(), st.Uid, c.mode, c.uid)
			}
		}
		trees = append(trees, treeOf(t, target))
	}
	if !reflect.DeepEqual(trees[0], trees[1]) {
		t.Errorf("early unpack %v, one by one %v", trees[0], trees[1])
	}
}
