package cli

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	"golang.org/x/crypto/bcrypt"

	"github.com/berth-project/berth/internal/registry/creds"
)

// The test binary doubles as `berth registry`, so that the tests run the
// real command in a real process they can kill.
func TestMain(m *testing.M) {
	if os.Getenv("BERTH_TEST_REGISTRY_MAIN") == "1" {
		os.Exit(Main(os.Args[1:]))
	}
	os.Exit(m.Run())
}

type proc struct {
	cmd *exec.Cmd
	url string
}

// startRegistry runs `berth registry serve` with args on a free port.
func startRegistry(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), "BERTH_TEST_REGISTRY_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd}
	t.Cleanup(func() { p.kill() })
	found := ListeningURL(stderr)
	select {
	case p.url = <-found:
	case <-time.After(60 * time.Second):
		t.Fatal("registry did not start within 60 s")
	}
	return p
}

func (p *proc) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
	}
}

func request(t *testing.T, c *http.Client, method, url string, body io.Reader, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

// TestKilledMidUpload kills the registry (SIGKILL) while a client streams a
// blob, and checks that no part of it became visible, that the session
// survived with the bytes that arrived, and that the client's retry (resume
// from the reported Range, then a fresh upload) succeeds.
func TestKilledMidUpload(t *testing.T) {
	root := t.TempDir()
	data := make([]byte, 8<<20)
	rand.Read(data)
	d := digest.FromBytes(data)
	reg := startRegistry(t, "--root", root)
	c := http.DefaultClient

	res := request(t, c, "POST", reg.url+"/v2/app/blobs/uploads/", nil)
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("start upload: %s", res.Status)
	}
	loc := res.Header.Get("Location")

	// Stream the first 3 MiB, and keep the request open.
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest("PATCH", reg.url+loc, pr)
		req.Header.Set("Content-Type", "application/octet-stream")
		res, err := c.Do(req)
		if err == nil {
			res.Body.Close()
			err = fmt.Errorf("PATCH finished: %s", res.Status)
		}
		done <- err
	}()
	sent := 3 << 20
	if _, err := pw.Write(data[:sent]); err != nil {
		t.Fatal(err)
	}
	// Wait until the registry has written what was sent, then kill it.
	ingest := filepath.Join(root, "content", "ingest")
	deadline := time.Now().Add(60 * time.Second)
	for {
		var size int64
		filepath.Walk(ingest, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.Name() == "data" {
				size += fi.Size()
			}
			return nil
		})
		if size >= int64(sent) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry holds %d of %d bytes after 60 s", size, sent)
		}
		time.Sleep(20 * time.Millisecond)
	}
	reg.kill()
	pw.CloseWithError(io.ErrUnexpectedEOF)
	if err := <-done; err == nil {
		t.Fatal("the PATCH survived the kill")
	}

	// Restarted on the same root: nothing of the blob is visible.
	reg = startRegistry(t, "--root", root)
	if res := request(t, c, "HEAD", reg.url+"/v2/app/blobs/"+d.String(), nil); res.StatusCode != http.StatusNotFound {
		t.Fatalf("half blob visible: %s", res.Status)
	}
	ents, _ := os.ReadDir(filepath.Join(root, "content", "blobs", "sha256"))
	if len(ents) != 0 {
		t.Fatalf("blobs in the store after the kill: %v", ents)
	}
	// The session reports what arrived; the client resumes from there.
	res = request(t, c, "GET", reg.url+loc, nil)
	if res.StatusCode != http.StatusNoContent || res.Header.Get("Range") != fmt.Sprintf("0-%d", sent-1) {
		t.Fatalf("upload status after restart: %s Range %q", res.Status, res.Header.Get("Range"))
	}
	res = request(t, c, "PATCH", reg.url+loc, bytes.NewReader(data[sent:]), "Content-Range", fmt.Sprintf("%d-%d", sent, len(data)-1))
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("resume: %s", res.Status)
	}
	res = request(t, c, "PUT", reg.url+res.Header.Get("Location")+"?digest="+d.String(), nil)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("finish: %s", res.Status)
	}
	resp, err := c.Get(reg.url + "/v2/app/blobs/" + d.String())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, data) {
		t.Fatal("resumed blob differs")
	}

	// A client that starts over instead (as docker does) succeeds too.
	other := bytes.Repeat([]byte("retry"), 100000)
	od := digest.FromBytes(other)
	res = request(t, c, "POST", reg.url+"/v2/app/blobs/uploads/?digest="+od.String(), bytes.NewReader(other))
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("fresh upload after restart: %s", res.Status)
	}
}

// TestServeTLSAndHtpasswd runs the registry with --tls-cert/--tls-key and
// --htpasswd and talks to it over verified HTTPS.
func TestServeTLSAndHtpasswd(t *testing.T) {
	dir := t.TempDir()
	if _, err := creds.Write(dir, "user", "pw", bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	reg := startRegistry(t, "--root", filepath.Join(dir, "root"), "--tls-cert", filepath.Join(dir, "cert.pem"),
		"--tls-key", filepath.Join(dir, "key.pem"), "--htpasswd", filepath.Join(dir, "htpasswd"))
	if !strings.HasPrefix(reg.url, "https://") {
		t.Fatalf("url %s", reg.url)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if res := request(t, c, "GET", reg.url+"/v2/", nil); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous: %s", res.Status)
	}
	req, _ := http.NewRequest("GET", reg.url+"/v2/", nil)
	req.SetBasicAuth("user", "pw")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("authenticated: %s", res.Status)
	}
	// Plain HTTP to the TLS port fails.
	if res, err := http.Get(strings.Replace(reg.url, "https", "http", 1) + "/v2/"); err == nil && res.StatusCode == http.StatusOK {
		t.Fatal("plain HTTP accepted")
	}
}

func TestServeRefusesBadFlags(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"serve", "--root", dir, "--tls-cert", filepath.Join(dir, "c.pem")},
		{"serve", "--root", dir, "--htpasswd", filepath.Join(dir, "missing")},
		{"serve", "--root", dir, "--log-level", "loud"},
	} {
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), "BERTH_TEST_REGISTRY_MAIN=1")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "berth registry:") {
			t.Errorf("%v: err %v, output %q", args, err, out)
		}
	}
}

// run runs `berth registry ARGS` (this test binary) and returns its output.
func runRegistry(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "BERTH_TEST_REGISTRY_MAIN=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestGCCommand runs `berth registry gc` against a root a server uses.
func TestGCCommand(t *testing.T) {
	root := t.TempDir()
	reg := startRegistry(t, "--root", root)
	pushRaw(t, reg.url, "app", "v1", "kept")
	pushRaw(t, reg.url, "app", "v2", "dropped")
	res := request(t, http.DefaultClient, "HEAD", reg.url+"/v2/app/manifests/v2", nil, "Accept", "application/vnd.oci.image.manifest.v1+json")
	d := res.Header.Get("Docker-Content-Digest")
	if res := request(t, http.DefaultClient, "DELETE", reg.url+"/v2/app/manifests/"+d, nil); res.StatusCode != http.StatusAccepted {
		t.Fatalf("delete: %s", res.Status)
	}
	out, err := runRegistry(t, "gc", "--root", root, "--dry-run", "--min-age", "0s")
	if err != nil || !strings.HasPrefix(out, "would remove 3 blobs") {
		t.Fatalf("gc --dry-run: %v %q", err, out)
	}
	out, err = runRegistry(t, "gc", "--root", root, "--min-age", "0s")
	if err != nil || !strings.HasPrefix(out, "removed 3 blobs") {
		t.Fatalf("gc: %v %q", err, out)
	}
	// The server, still running, serves what was kept.
	if got := pullInto(t, strings.TrimPrefix(reg.url, "http://")+"/app:v1"); strings.HasPrefix(got, "error") {
		t.Fatalf("pull after gc: %s", got)
	}
	if out, err := runRegistry(t, "gc", "--root", root); err != nil || !strings.HasPrefix(out, "removed 0 blobs") {
		t.Fatalf("second gc: %v %q", err, out)
	}
}

// TestServeProxyFlag runs a cache process (serve --proxy) in front of an
// upstream process.
func TestServeProxyFlag(t *testing.T) {
	up := startRegistry(t, "--root", t.TempDir())
	pushRaw(t, up.url, "library/app", "v1", "proxied")
	cache := startRegistry(t, "--root", t.TempDir(), "--proxy", up.url, "--proxy-tag-ttl", "1h")
	ref := strings.TrimPrefix(cache.url, "http://") + "/library/app:v1"
	first := pullInto(t, ref)
	if strings.HasPrefix(first, "error") {
		t.Fatalf("pull through the cache: %s", first)
	}
	up.kill()
	if got := pullInto(t, ref); got != first {
		t.Fatalf("pull with the upstream gone: %s", got)
	}
	if out, err := runRegistry(t, "serve", "--root", t.TempDir(), "--proxy", "not a url"); err == nil || !strings.Contains(out, "--proxy") {
		t.Fatalf("bad --proxy: %v %q", err, out)
	}
}
