package engine

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/berth-project/berth/internal/integration/harness"
	"github.com/berth-project/berth/internal/registry/creds"
	"github.com/berth-project/berth/internal/testport"
)

// regProc is a registry serving on 127.0.0.1.
type regProc struct {
	host string // 127.0.0.1:port
}

// startBerthRegistry runs `berth registry serve` (this test binary) on a
// free port with a fresh root.
func startBerthRegistry(t *testing.T, args ...string) *regProc {
	t.Helper()
	return &regProc{host: harness.StartRegistry(t, args...)}
}

// startDockerRegistry runs Debian's docker-registry (CNCF distribution
// 2.8) on a free loopback port, optionally with htpasswd and TLS.
func startDockerRegistry(t *testing.T, htpasswd, certFile, keyFile string) *regProc {
	t.Helper()
	bin := needPeer(t, "docker-registry")
	dir := t.TempDir()
	// Its port is written into its config: one no other process takes
	// meanwhile (below the ephemeral range).
	host := testport.Free(t)
	cfg := fmt.Sprintf("version: 0.1\nlog: {level: error}\nstorage:\n  filesystem: {rootdirectory: %s}\n  delete: {enabled: true}\nhttp:\n  addr: %s\n", filepath.Join(dir, "root"), host)
	if certFile != "" {
		cfg += fmt.Sprintf("  tls: {certificate: %s, key: %s}\n", certFile, keyFile)
	}
	if htpasswd != "" {
		cfg += fmt.Sprintf("auth: {htpasswd: {realm: test, path: %s}}\n", htpasswd)
	}
	os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o644)
	logf, _ := os.Create(filepath.Join(dir, "log"))
	defer logf.Close()
	cmd := exec.Command(bin, "serve", filepath.Join(dir, "config.yml"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGKILL); <-exited })
	eventually(t, "docker-registry to listen", func() bool {
		select {
		case <-exited:
			b, _ := os.ReadFile(filepath.Join(dir, "log"))
			t.Fatalf("docker-registry exited: %s", b)
		default:
		}
		c, err := net.Dial("tcp", host)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return &regProc{host: host}
}

// writeCreds writes an htpasswd file (bcrypt) and a self-signed
// certificate for 127.0.0.1 into dir.
func writeCreds(t *testing.T, dir, user, pass string) (htpasswd, cert, key string) {
	t.Helper()
	f, err := creds.Write(dir, user, pass, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return f.Htpasswd, f.Cert, f.Key
}

// loadTestImage loads a generated image (busybox and `extra` layers of
// files under /data) into berth as name.
func (e *env) loadTestImage(name string, extra int) {
	e.t.Helper()
	if out := e.must(berthCLI, "load", "-i", genArchive(e.t, name, extra, 256<<10)); out != "Loaded image: "+name {
		e.t.Fatalf("load: %q", out)
	}
}

// roundTrip pushes name as ref with cli, removes it and pulls it back with
// cli, and runs it in berth.
func (e *env) roundTrip(kind cliKind, name, ref string, layers int) {
	e.t.Helper()
	e.must(berthCLI, "tag", name, ref)
	out := e.must(kind, "push", ref)
	if !strings.Contains(out, ": digest: sha256:") {
		e.t.Fatalf("%s push %s: %q", kind, ref, out)
	}
	e.must(berthCLI, "rmi", ref)
	out = e.must(kind, "pull", ref)
	if lines := strings.Split(out, "\n"); kind == berthCLI && lines[len(lines)-1] != ref {
		e.t.Fatalf("%s pull %s: last line %q", kind, ref, lines[len(lines)-1])
	}
	if out := e.must(berthCLI, "run", "--rm", "--network", "none", ref, "sh", "-c", "ls /data | wc -l"); out != fmt.Sprint(layers) {
		e.t.Fatalf("run %s: %q", ref, out)
	}
}

// TestRegistryBerth: berth's CLI (and the real docker CLI against berthd)
// pushes to and pulls from berth's own registry; login, logout and
// pull --all-tags.
func TestRegistryBerth(t *testing.T) {
	e := newEnv(t)
	reg := startBerthRegistry(t)
	name := "regsrc/" + randHex(4) + ":v1"
	e.loadTestImage(name, 2)
	e.roundTrip(berthCLI, name, reg.host+"/berth/app:v1", 2)
	if out := e.must(berthCLI, "pull", "-q", reg.host+"/berth/app:v1"); out != reg.host+"/berth/app:v1" {
		t.Fatalf("pull -q: %q", out)
	}
	// --all-tags.
	e.must(berthCLI, "tag", name, reg.host+"/berth/app:v2")
	e.must(berthCLI, "push", reg.host+"/berth/app:v2")
	e.must(berthCLI, "rmi", reg.host+"/berth/app:v1", reg.host+"/berth/app:v2")
	e.must(berthCLI, "pull", "-a", reg.host+"/berth/app")
	imgs := e.must(berthCLI, "images", "--format", "{{.Repository}}:{{.Tag}}", reg.host+"/berth/app")
	if !strings.Contains(imgs, reg.host+"/berth/app:v1") || !strings.Contains(imgs, reg.host+"/berth/app:v2") {
		t.Fatalf("after pull -a: %q", imgs)
	}
	// run pulls an image it lacks (docker's CLIs do too), unless --pull never.
	e.must(berthCLI, "rmi", reg.host+"/berth/app:v1")
	r := e.run(berthCLI, "", "run", "--rm", "--pull", "never", reg.host+"/berth/app:v1", "true")
	if r.Code != 125 || !strings.Contains(r.Stderr, "No such image") {
		t.Fatalf("run --pull never of a missing image: %s", r)
	}
	r = e.run(berthCLI, "", "run", "--rm", "--network", "none", reg.host+"/berth/app:v1", "sh", "-c", "ls /data | wc -l")
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != "2" || !strings.Contains(r.Stderr, "Unable to find image '"+reg.host+"/berth/app:v1' locally") ||
		!strings.Contains(r.Stderr, "Status: Downloaded newer image for "+reg.host+"/berth/app:v1") {
		t.Fatalf("run of a missing image: %s", r)
	}
	if _, err := os.Stat(dockerPath); err == nil {
		e.must(berthCLI, "rmi", reg.host+"/berth/app:v1")
		if out := e.must(dockerCLI, "run", "--rm", "--network", "none", reg.host+"/berth/app:v1", "sh", "-c", "ls /data | wc -l"); out != "2" {
			t.Fatalf("docker run of a missing image through berthd: %q", out)
		}
	}
	// Errors with Docker's words and exit codes.
	r = e.run(berthCLI, "", "pull", reg.host+"/berth/nothing:here")
	if r.Code != 1 || !strings.Contains(r.Stderr, "manifest for "+reg.host+"/berth/nothing:here not found: manifest unknown: manifest unknown") {
		t.Fatalf("pull of a missing tag: %s", r)
	}
	r = e.run(berthCLI, "", "push", reg.host+"/not/local:v1")
	if r.Code != 1 || !strings.Contains(r.Stderr, "An image does not exist locally with the tag: "+reg.host+"/not/local") {
		t.Fatalf("push of a missing image: %s", r)
	}

	if _, err := os.Stat(dockerPath); err == nil {
		// The real docker CLI drives berthd the same way.
		e.roundTrip(dockerCLI, name, reg.host+"/docker-cli/app:v1", 2)
	}

	// A registry with htpasswd: login, push, logout.
	dir := t.TempDir()
	htpasswd, _, _ := writeCreds(t, dir, "alice", "s3cret")
	secure := startBerthRegistry(t, "--htpasswd", htpasswd)
	ref := secure.host + "/private/app:v1"
	e.must(berthCLI, "tag", name, ref)
	if r := e.run(berthCLI, "", "push", ref); r.Code != 1 || !strings.Contains(r.Stderr, "unauthorized") {
		t.Fatalf("push without login: %s", r)
	}
	r = e.run(berthCLI, "wrong\n", "login", "-u", "alice", "--password-stdin", secure.host)
	if r.Code != 1 || !strings.Contains(r.Stderr, "401 Unauthorized") {
		t.Fatalf("login with a wrong password: %s", r)
	}
	r = e.run(berthCLI, "s3cret\n", "login", "-u", "alice", "--password-stdin", secure.host)
	if r.Code != 0 || !strings.Contains(r.Stdout, "Login Succeeded") {
		t.Fatalf("login: %s", r)
	}
	cfg, _ := os.ReadFile(filepath.Join(e.Dir, ".docker", "config.json"))
	if !strings.Contains(string(cfg), secure.host) {
		t.Fatalf("config.json after login: %s", cfg)
	}
	e.roundTrip(berthCLI, name, ref, 2)
	if out := e.must(berthCLI, "logout", secure.host); out != "Removing login credentials for "+secure.host {
		t.Fatalf("logout: %q", out)
	}
	if out := e.must(berthCLI, "logout", secure.host); out != "Not logged in to "+secure.host {
		t.Fatalf("second logout: %q", out)
	}
	if r := e.run(berthCLI, "", "pull", ref); r.Code != 1 {
		t.Fatalf("pull after logout: %s", r)
	}
	if _, err := os.Stat(dockerPath); err == nil {
		// The real docker CLI logs in through berthd's POST /auth, into the
		// same config.json berth reads.
		r = e.run(dockerCLI, "wrong\n", "login", "-u", "alice", "--password-stdin", secure.host)
		if r.Code != 1 || !strings.Contains(r.Stderr, "401 Unauthorized") {
			t.Fatalf("docker login with a wrong password: %s", r)
		}
		r = e.run(dockerCLI, "s3cret\n", "login", "-u", "alice", "--password-stdin", secure.host)
		if r.Code != 0 || !strings.Contains(r.Stdout, "Login Succeeded") {
			t.Fatalf("docker login: %s", r)
		}
		e.must(berthCLI, "pull", ref)
		e.must(dockerCLI, "logout", secure.host)
	}
}

// TestRegistryDockerRegistry: berth pushes to and pulls from Debian's
// docker-registry (CNCF distribution 2.8): plain HTTP, htpasswd, and
// HTTPS with htpasswd.
func TestRegistryDockerRegistry(t *testing.T) {
	needPeer(t, "docker-registry")
	e := newEnv(t)
	name := "regsrc/" + randHex(4) + ":v1"
	e.loadTestImage(name, 1)
	plain := startDockerRegistry(t, "", "", "")
	e.roundTrip(berthCLI, name, plain.host+"/plain/app:v1", 1)

	secret := "pw-" + randHex(4)
	htpasswd, cert, key := writeCreds(t, t.TempDir(), "bob", secret)
	for _, tls := range []bool{false, true} {
		c, k := "", ""
		if tls {
			c, k = cert, key
		}
		reg := startDockerRegistry(t, htpasswd, c, k)
		ref := reg.host + "/auth/app:v1"
		e.must(berthCLI, "tag", name, ref)
		if r := e.run(berthCLI, "", "push", ref); r.Code != 1 {
			t.Fatalf("push to %s without login: %s", reg.host, r)
		}
		if r := e.run(berthCLI, secret+"\n", "login", "-u", "bob", "--password-stdin", reg.host); r.Code != 0 {
			t.Fatalf("login to docker-registry (tls %v): %s", tls, r)
		}
		e.roundTrip(berthCLI, name, ref, 1)
		e.must(berthCLI, "logout", reg.host)
	}
}

// TestRegistryDocker: the real dockerd pushes to berth's registry and
// berth pulls and runs that image; berth pushes and dockerd pulls and
// runs.
func TestRegistryDocker(t *testing.T) {
	docker := needPeer(t, "docker")
	e := newEnv(t)
	reg := startBerthRegistry(t)
	fromDocker := reg.host + "/from-docker/" + randHex(4) + ":v1"
	fromBerth := reg.host + "/from-berth/" + randHex(4) + ":v1"
	local := "regsrc/" + randHex(4) + ":v1"
	t.Cleanup(func() {
		exec.Command(docker, "-H", "unix:///var/run/docker.sock", "rmi", "-f", local, fromDocker, fromBerth).Run()
	})
	peer(t, docker, "load", "-i", genArchive(t, local, 2, 256<<10))
	peer(t, docker, "tag", local, fromDocker)
	if out := peer(t, docker, "push", fromDocker); !strings.Contains(out, "digest: sha256:") {
		t.Fatalf("docker push: %q", out)
	}
	e.must(berthCLI, "pull", fromDocker)
	if out := e.must(berthCLI, "run", "--rm", "--network", "none", fromDocker, "sh", "-c", "ls /data | wc -l; echo ran"); out != "2\nran" {
		t.Fatalf("berth run of the image docker pushed: %q", out)
	}

	e.loadTestImage(local, 1)
	e.must(berthCLI, "tag", local, fromBerth)
	e.must(berthCLI, "push", fromBerth)
	peer(t, docker, "pull", fromBerth)
	if out := peer(t, docker, "run", "--rm", "--network", "none", fromBerth, "sh", "-c", "ls /data | wc -l; echo ran"); out != "1\nran" {
		t.Fatalf("docker run of the image berth pushed: %q", out)
	}
}

// TestRegistrySkopeo: skopeo copies into berth's registry and out of it.
func TestRegistrySkopeo(t *testing.T) {
	skopeo := needPeer(t, "skopeo")
	e := newEnv(t)
	reg := startBerthRegistry(t)
	local := "regsrc/" + randHex(4) + ":v1"
	ref := reg.host + "/skopeo/app:v1"
	peer(t, skopeo, "copy", "--dest-tls-verify=false", "docker-archive:"+genArchive(t, local, 2, 256<<10), "docker://"+ref)
	e.must(berthCLI, "pull", ref)
	if out := e.must(berthCLI, "run", "--rm", "--network", "none", ref, "sh", "-c", "ls /data | wc -l"); out != "2" {
		t.Fatalf("run of the image skopeo copied: %q", out)
	}
	e.must(berthCLI, "tag", ref, reg.host+"/skopeo/back:v1")
	e.must(berthCLI, "push", reg.host+"/skopeo/back:v1")
	dst := filepath.Join(t.TempDir(), "oci")
	peer(t, skopeo, "copy", "--src-tls-verify=false", "docker://"+reg.host+"/skopeo/back:v1", "oci:"+dst+":v1")
	if out := peer(t, skopeo, "inspect", "oci:"+dst+":v1"); !strings.Contains(out, `"Layers"`) {
		t.Fatalf("skopeo inspect: %q", out)
	}
}
