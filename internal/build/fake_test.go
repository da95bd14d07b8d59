package build

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/internal/errdefs"
)

// fakeBackend implements Backend in memory: layers are digests of what
// made them, the context is a map of files, the cache a map.
type fakeBackend struct {
	mu       sync.Mutex
	images   map[string]Image
	files    map[string]string // context path -> content
	cache    map[digest.Digest]CacheRecord
	probes   map[digest.Digest]CacheRecord
	imageReq []string
	runs     []RunRequest
	copies   []CopyRequest
	mkdirs   []string
	// onRun, when set, runs before a RUN step returns; an error fails it.
	onRun func(RunRequest) error
}

func newFake() *fakeBackend {
	return &fakeBackend{images: map[string]Image{}, files: map[string]string{},
		cache: map[digest.Digest]CacheRecord{}, probes: map[digest.Digest]CacheRecord{}}
}

func fakeLayer(parent []Layer, what string) *Layer {
	d := digest.FromString(what)
	chain := d
	if len(parent) > 0 {
		chain = digest.FromString(parent[len(parent)-1].Chain.String() + " " + d.String())
	}
	return &Layer{DiffID: d, Blob: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: d, Size: 1}, Chain: chain}
}

func (f *fakeBackend) Image(ctx context.Context, ref string, p ocispec.Platform) (Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.imageReq = append(f.imageReq, ref)
	img, ok := f.images[ref]
	if !ok {
		return Image{}, errdefs.NotFoundf("No such image: %s", ref)
	}
	return img, nil
}

func (f *fakeBackend) Run(ctx context.Context, req RunRequest) (*Layer, error) {
	if f.onRun != nil {
		if err := f.onRun(req); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs = append(f.runs, req)
	return fakeLayer(req.Layers, "run "+strings.Join(req.Args, " ")), nil
}

type fakeSources struct {
	d     digest.Digest
	files []FileSum
	n     int
}

func (s fakeSources) Digest() digest.Digest { return s.d }
func (s fakeSources) Files() []FileSum      { return s.files }
func (s fakeSources) Count() int            { return s.n }

func (f *fakeBackend) Sources(ctx context.Context, req SourceRequest) (Sources, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.Kind == FromImage {
		return fakeSources{d: digest.FromString(req.Key.String() + strings.Join(req.Paths, ",")), n: len(req.Paths)}, nil
	}
	var files []FileSum
	n := 0
	for _, p := range req.Paths {
		p = strings.TrimPrefix(p, "./")
		found := false
		for name, data := range f.files {
			if name == p || strings.HasPrefix(name, p+"/") || p == "." {
				files = append(files, FileSum{Path: name, Digest: digest.FromString(data)})
				found = true
			}
		}
		if !found {
			return nil, errdefs.NotFoundf("%s failed: file not found in build context or excluded by .dockerignore: stat %s: file does not exist", req.Cmd, p)
		}
		n++
	}
	for _, in := range req.Inline {
		files = append(files, FileSum{Path: in.Path, Digest: digest.FromString(in.Data)})
		n++
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	h := digest.Canonical.Digester()
	for _, fs := range files {
		fmt.Fprintf(h.Hash(), "%s %s\n", fs.Path, fs.Digest)
	}
	return fakeSources{d: h.Digest(), files: files, n: n}, nil
}

func (f *fakeBackend) Copy(ctx context.Context, req CopyRequest) (*Layer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.copies = append(f.copies, req)
	return fakeLayer(req.Layers, "copy "+req.Sources.Digest().String()+" "+req.Dest+" "+req.Chown+" "+req.Chmod), nil
}

func (f *fakeBackend) Mkdir(ctx context.Context, layers []Layer, dir, user string) (*Layer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mkdirs = append(f.mkdirs, dir)
	return fakeLayer(layers, "mkdir "+dir), nil
}

func (f *fakeBackend) CacheGet(ctx context.Context, key digest.Digest) (CacheRecord, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.cache[key]
	return r, ok
}

func (f *fakeBackend) CacheProbe(ctx context.Context, probe digest.Digest) (CacheRecord, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.probes[probe]
	return r, ok
}

func (f *fakeBackend) CachePut(ctx context.Context, key, probe digest.Digest, rec CacheRecord) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cache[key] = rec
	f.probes[probe] = rec
	return nil
}

// counts returns how many RUN, COPY/ADD and WORKDIR steps ran, and resets them.
func (f *fakeBackend) counts() (runs, copies, mkdirs int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	runs, copies, mkdirs = len(f.runs), len(f.copies), len(f.mkdirs)
	f.runs, f.copies, f.mkdirs, f.imageReq = nil, nil, nil, nil
	return
}
