package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/internal/archive"
	"github.com/berth-project/berth/internal/image/platform"
	registrycli "github.com/berth-project/berth/internal/registry/cli"
	"github.com/berth-project/berth/internal/testbundle"
)

// pullImageLayers and pullLayerSize shape the image of the registry
// benchmarks: a busybox layer and 9 layers of 22 MiB of files, about
// 200 MB unpacked, stored gzip-compressed as registries hold images.
const (
	pullImageLayers = 9
	pullLayerSize   = 22 << 20
	pullFileSize    = 512 << 10
)

// benchBlob is a blob of the generated image, kept on disk.
type benchBlob struct {
	desc ocispec.Descriptor
	path string
}

// benchImageFiles is the generated image: its blobs and manifest.
type benchImageFiles struct {
	blobs    []benchBlob // config first, then the layers
	manifest []byte
	// unpacked is the total size of the layer tars.
	unpacked int64
}

func (im *benchImageFiles) compressedSize() int64 {
	var n int64
	for _, b := range im.blobs {
		n += b.desc.Size
	}
	return n
}

// layerContent fills a file with half random and half repetitive bytes,
// so that gzip halves it (real images compress 2-3x; incompressible data
// would hide the cost of decompression).
func layerContent(buf []byte, rng *rand.Rand) {
	half := len(buf) / 2
	for i := 0; i < half; i += 8 {
		v := rng.Uint64()
		for k := 0; k < 8 && i+k < half; k++ {
			buf[i+k] = byte(v >> (8 * k))
		}
	}
	line := []byte(fmt.Sprintf("berth bench line %d: the quick brown fox jumps over the lazy dog\n", rng.IntN(1000)))
	for i := half; i < len(buf); i += len(line) {
		copy(buf[i:], line)
	}
}

// writeGzipLayer writes the gzip of a layer tar produced by fill to dir and
// returns its blob and diff ID.
func writeGzipLayer(dir string, fill func(tw *tar.Writer) error) (benchBlob, digest.Digest, int64, error) {
	f, err := os.CreateTemp(dir, "layer-")
	if err != nil {
		return benchBlob{}, "", 0, err
	}
	defer f.Close()
	blobHash := sha256.New()
	counter := &countingWriter{w: io.MultiWriter(f, blobHash)}
	gz := gzip.NewWriter(counter)
	diffHash := sha256.New()
	raw := &countingWriter{w: io.MultiWriter(gz, diffHash)}
	tw := tar.NewWriter(raw)
	if err := fill(tw); err != nil {
		return benchBlob{}, "", 0, err
	}
	if err := tw.Close(); err != nil {
		return benchBlob{}, "", 0, err
	}
	if err := gz.Close(); err != nil {
		return benchBlob{}, "", 0, err
	}
	d := digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(blobHash.Sum(nil)))
	diffID := digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(diffHash.Sum(nil)))
	return benchBlob{desc: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: d, Size: counter.n}, path: f.Name()}, diffID, raw.n, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// makeBenchImage generates the image of the registry benchmarks in dir.
func makeBenchImage(dir string) (*benchImageFiles, error) {
	im := &benchImageFiles{}
	var diffIDs []digest.Digest
	rootfs := filepath.Join(dir, "rootfs")
	if err := testbundle.Rootfs(rootfs); err != nil {
		return nil, fmt.Errorf("busybox rootfs: %w", err)
	}
	base, diffID, n, err := writeGzipLayer(dir, func(tw *tar.Writer) error {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(archive.Tar(context.Background(), rootfs, pw)) }()
		tr := tar.NewReader(pr)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			if _, err := io.Copy(tw, tr); err != nil {
				return err
			}
		}
	})
	if err != nil {
		return nil, err
	}
	layers := []benchBlob{base}
	diffIDs = append(diffIDs, diffID)
	im.unpacked += n
	buf := make([]byte, pullFileSize)
	epoch := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < pullImageLayers; i++ {
		rng := rand.New(rand.NewPCG(uint64(i)+1, 0x5eed))
		l, diffID, n, err := writeGzipLayer(dir, func(tw *tar.Writer) error {
			d := fmt.Sprintf("data/layer-%02d", i)
			for _, p := range []string{"data", d} {
				if err := tw.WriteHeader(&tar.Header{Name: p + "/", Mode: 0o755, ModTime: epoch, Typeflag: tar.TypeDir}); err != nil {
					return err
				}
			}
			for k := 0; k < pullLayerSize/pullFileSize; k++ {
				layerContent(buf, rng)
				if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("%s/file-%03d", d, k), Mode: 0o644, Size: int64(len(buf)), ModTime: epoch, Typeflag: tar.TypeReg}); err != nil {
					return err
				}
				if _, err := tw.Write(buf); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		layers = append(layers, l)
		diffIDs = append(diffIDs, diffID)
		im.unpacked += n
	}
	p := platform.Host()
	cfg, _ := json.Marshal(ocispec.Image{
		Platform: ocispec.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant},
		Config:   ocispec.ImageConfig{Cmd: []string{"sh"}, Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
	})
	cfgPath := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		return nil, err
	}
	cfgDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}
	im.blobs = append([]benchBlob{{desc: cfgDesc, path: cfgPath}}, layers...)
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfgDesc}
	m.SchemaVersion = 2
	for _, l := range layers {
		m.Layers = append(m.Layers, l.desc)
	}
	im.manifest, _ = json.Marshal(m)
	return im, nil
}

// pushBenchImage uploads the image to base/v2/repo (4 blobs at a time,
// each as POST, one streamed PATCH and the final PUT, as docker does), then
// its manifest as tag.
func pushBenchImage(ctx context.Context, c *http.Client, base, repo, tag string, im *benchImageFiles) error {
	if err := eachBlob(im.blobs, func(b benchBlob) error { return pushBlob(ctx, c, base, repo, b) }); err != nil {
		return err
	}
	req, _ := http.NewRequestWithContext(ctx, "PUT", base+"/v2/"+repo+"/manifests/"+tag, bytes.NewReader(im.manifest))
	req.Header.Set("Content-Type", ocispec.MediaTypeImageManifest)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("push manifest: %s", resp.Status)
	}
	return nil
}

func pushBlob(ctx context.Context, c *http.Client, base, repo string, b benchBlob) error {
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v2/"+repo+"/blobs/uploads/", nil)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("start upload: %s", resp.Status)
	}
	loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil {
		return err
	}
	f, err := os.Open(b.path)
	if err != nil {
		return err
	}
	defer f.Close()
	req, _ = http.NewRequestWithContext(ctx, "PATCH", loc.String(), f)
	req.ContentLength = b.desc.Size
	req.Header.Set("Content-Type", "application/octet-stream")
	if resp, err = c.Do(req); err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("upload %s: %s", b.desc.Digest, resp.Status)
	}
	if loc, err = resp.Request.URL.Parse(resp.Header.Get("Location")); err != nil {
		return err
	}
	q := loc.Query()
	q.Set("digest", b.desc.Digest.String())
	loc.RawQuery = q.Encode()
	req, _ = http.NewRequestWithContext(ctx, "PUT", loc.String(), nil)
	if resp, err = c.Do(req); err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("finish upload %s: %s", b.desc.Digest, resp.Status)
	}
	return nil
}

// pullBenchBlobs downloads every blob of the image (4 at a time) and
// checks their digests.
func pullBenchBlobs(ctx context.Context, c *http.Client, base, repo string, im *benchImageFiles) error {
	return eachBlob(im.blobs, func(b benchBlob) error {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v2/"+repo+"/blobs/"+b.desc.Digest.String(), nil)
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("get %s: %s", b.desc.Digest, resp.Status)
		}
		h := sha256.New()
		n, err := io.Copy(h, resp.Body)
		if err == nil && (n != b.desc.Size || "sha256:"+hex.EncodeToString(h.Sum(nil)) != b.desc.Digest.String()) {
			err = fmt.Errorf("blob %s: got %d bytes with another digest", b.desc.Digest, n)
		}
		return err
	})
}

// eachBlob runs fn on every blob, 4 at a time, and returns the first
// error.
func eachBlob(blobs []benchBlob, fn func(benchBlob) error) error {
	sem := make(chan struct{}, 4)
	errs := make(chan error, len(blobs))
	var wg sync.WaitGroup
	for _, b := range blobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs <- fn(b)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// benchRegistry is a registry process for the benchmarks.
type benchRegistry struct {
	name string
	host string
	cmd  *exec.Cmd
}

func (r *benchRegistry) stop() {
	if r != nil && r.cmd != nil && r.cmd.Process != nil {
		stopProcess(r.cmd.Process, waited(r.cmd), 10*time.Second)
	}
}

// startBerthRegistry runs `berth registry serve` on a free loopback port.
func startBerthRegistry(berth, root string) (*benchRegistry, error) {
	cmd := exec.Command(berth, "registry", "serve", "--addr", "127.0.0.1:0", "--root", root, "--log-level", "info")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	found := registrycli.ListeningURL(stderr)
	r := &benchRegistry{name: "berth", cmd: cmd}
	select {
	case u := <-found:
		r.host = strings.TrimPrefix(u, "http://")
		return r, nil
	case <-time.After(time.Minute):
		r.stop()
		return nil, fmt.Errorf("berth registry serve did not start")
	}
}

// startDockerRegistry runs Debian's docker-registry on a free loopback port.
func startDockerRegistry(root string) (*benchRegistry, error) {
	bin := lookPath("docker-registry")
	if bin == "" {
		return nil, fmt.Errorf("docker-registry is not installed (hack/install-peers.sh)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	host := l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf("version: 0.1\nlog: {level: error}\nstorage:\n  filesystem: {rootdirectory: %s}\n  delete: {enabled: true}\nhttp:\n  addr: %s\n", filepath.Join(root, "data"), host)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(root, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := &benchRegistry{name: "docker-registry", host: host, cmd: cmd}
	for i := 0; i < 600; i++ {
		if c, err := net.Dial("tcp", host); err == nil {
			c.Close()
			return r, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.stop()
	return nil, fmt.Errorf("docker-registry did not listen on %s", host)
}

func dockerRegistryVersion() string {
	out, err := output(30*time.Second, "docker-registry", "--version")
	if err != nil {
		return ""
	}
	f := strings.Fields(out)
	return f[len(f)-1]
}

// daemonPeakRSS reads and resets the peak resident memory of a process
// (VmHWM; writing 5 to clear_refs resets it).
func daemonPeakRSS(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	var kb int64
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ = strconv.ParseInt(strings.Fields(v)[0], 10, 64)
		}
	}
	os.WriteFile("/proc/"+strconv.Itoa(pid)+"/clear_refs", []byte("5"), 0)
	return kb << 10
}
