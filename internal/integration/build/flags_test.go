package build

import (
	"archive/tar"
	"encoding/json"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/integration/harness"
)

// TestReproducibleWithSourceDateEpoch builds the same Dockerfile and
// context from two directories (files written at different times) on two
// daemons: with SOURCE_DATE_EPOCH the image IDs are equal.
func TestReproducibleWithSourceDateEpoch(t *testing.T) {
	files := map[string]string{
		"Dockerfile": `FROM busybox
COPY app/ /app/
ADD data.tar.gz /data/
WORKDIR /work
RUN echo built > /work/out && mkdir -p /var/lib/x && touch /var/lib/x/marker
ENV V=1
CMD ["cat", "/work/out"]
`,
		"app/main.sh":  "echo main\n",
		"app/lib/x.sh": "echo lib\n",
		"data.tar.gz":  tarGz(t, map[string]string{"d/one": "1\n"}),
	}
	d1 := harness.Start(t)
	d2 := harness.Start(t)
	// Each daemon seeds its own busybox (with its own times): give the
	// second one the first's, as two machines would pull the same base.
	saved := filepath.Join(t.TempDir(), "busybox.tar")
	d1.Must("save", "-o", saved, "busybox")
	d2.Must("load", "-i", saved)
	dir1 := writeContext(t, files)
	// The second copy is written later: other mtimes (all after the
	// epoch, as in any checkout), same contents.
	os.Chtimes(filepath.Join(dir1, "app", "main.sh"), time.Unix(1700000500, 0), time.Unix(1700000500, 0))
	dir2 := writeContext(t, files)
	epoch := []string{"--build-arg", "SOURCE_DATE_EPOCH=1700000000"}
	id1 := d1.Must(append([]string{"build", "-q"}, append(epoch, dir1)...)...)
	id2 := d2.Must(append([]string{"build", "-q"}, append(epoch, dir2)...)...)
	if id1 != id2 || !strings.HasPrefix(id1, "sha256:") {
		c1, _ := json.MarshalIndent(imageConfig(t, d1, id1), "", " ")
		c2, _ := json.MarshalIndent(imageConfig(t, d2, id2), "", " ")
		t.Logf("configs:\n%s\n%s", c1, c2)
		t.Fatalf("image IDs differ: %s (%s) and %s (%s)", id1, dir1, id2, dir2)
	}
	// Rebuilt without the cache, on the first daemon: still the same.
	if id3 := d1.Must(append([]string{"build", "-q", "--no-cache"}, append(epoch, dir2)...)...); id3 != id1 {
		t.Errorf("--no-cache rebuild: %s, want %s", id3, id1)
	}
	cfg := imageConfig(t, d1, id1)
	if cfg.Created == nil || cfg.Created.Unix() != 1700000000 {
		t.Errorf("created %v", cfg.Created)
	}
	// Without the epoch, two builds differ (times are part of the image).
	a := d1.Must("build", "-q", "--no-cache", dir1)
	time.Sleep(1100 * time.Millisecond) // a new second for the creation time
	b := d1.Must("build", "-q", "--no-cache", dir1)
	if a == b {
		t.Errorf("builds without SOURCE_DATE_EPOCH a second apart have one ID %s", a)
	}
}

// TestBuildFlags covers berth build's flags.
func TestBuildFlags(t *testing.T) {
	d := harness.Start(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile.custom": `FROM busybox AS first
ARG MSG=default
RUN echo "$MSG" > /msg
FROM first AS second
RUN echo second > /second
FROM busybox AS unused
RUN exit 1
`,
		".dockerignore": "secret.txt\nlogs/\n!logs/keep.log\n",
		"secret.txt":    "must not be sent",
		"logs/a.log":    "no",
		"logs/keep.log": "yes",
		"kept.txt":      "sent",
	})
	iid := filepath.Join(t.TempDir(), "iid")
	r := d.Berth("", "", nil, "build", "-f", filepath.Join(dir, "Dockerfile.custom"), "--target", "first",
		"--build-arg", "MSG=hello", "--label", "a=1", "--label", "b=two", "-t", "flags:one", "-t", "flags:two",
		"--iidfile", iid, "--platform", "linux/"+hostArch(), dir)
	if r.Code != 0 {
		t.Fatalf("build: %s", r)
	}
	if strings.Contains(r.Stdout, "exit 1") || strings.Contains(r.Stdout, "echo second") {
		t.Errorf("--target first built other stages:\n%s", r.Stdout)
	}
	id, _ := os.ReadFile(iid)
	if !strings.HasPrefix(string(id), "sha256:") {
		t.Errorf("--iidfile: %q", id)
	}
	if out := d.Must("run", "--rm", "flags:two", "cat", "/msg"); out != "hello" {
		t.Errorf("--build-arg: %q", out)
	}
	if l := imageConfig(t, d, string(id)).Config.Labels; !reflect.DeepEqual(l, map[string]string{"a": "1", "b": "two"}) {
		t.Errorf("--label: %v", l)
	}
	// -q prints only the ID.
	if out := d.Must("build", "-q", "-f", filepath.Join(dir, "Dockerfile.custom"), "--target", "second", dir); !strings.HasPrefix(out, "sha256:") || strings.Contains(out, "\n") {
		t.Errorf("-q: %q", out)
	}
	// Another platform is refused.
	if r := d.Berth("", "", nil, "build", "--platform", "linux/s390x", "-f", filepath.Join(dir, "Dockerfile.custom"), dir); r.Code == 0 || !strings.Contains(r.Stderr, "linux/s390x") {
		t.Errorf("--platform linux/s390x: %s", r)
	}

	// .dockerignore: the context has what the patterns let through.
	ctx2 := writeContext(t, map[string]string{
		"Dockerfile":    "FROM busybox\nCOPY . /ctx/\nCMD [\"sh\", \"-c\", \"cd /ctx && find . -type f | sort\"]\n",
		".dockerignore": "secret.txt\nlogs/\n!logs/keep.log\n**/*.tmp\n",
		"secret.txt":    "must not be sent",
		"logs/a.log":    "no",
		"logs/keep.log": "yes",
		"sub/x.tmp":     "no",
		"sub/y.txt":     "yes",
	})
	build(t, d, ctx2, "-t", "ignored")
	if out := d.Must("run", "--rm", "ignored"); out != "./.dockerignore\n./Dockerfile\n./logs/keep.log\n./sub/y.txt" {
		t.Errorf(".dockerignore: context holds\n%s", out)
	}

	// By default RUN is on the default bridge, as in Docker: eth0 with an
	// address of the daemon's pool.
	bridgeDir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN ls /sys/class/net | tr '\\n' ' ' > /net && ip -4 -o addr show eth0 | awk '{print $4}' > /addr\n"})
	build(t, d, bridgeDir, "-t", "net-default")
	if out := d.Must("run", "--rm", "net-default", "cat", "/net"); out != "eth0 lo" {
		t.Errorf("default network: RUN saw %q", out)
	}
	if out := d.Must("run", "--rm", "net-default", "cat", "/addr"); !d.Net.Pool.Contains(netip.MustParsePrefix(out).Addr()) {
		t.Errorf("default network: RUN had address %q, outside the daemon's pool %s", out, d.Net.Pool)
	}
	// --network none: RUN sees only the loopback device; host: the host's.
	netDir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN ls /sys/class/net | tr '\\n' ' ' > /net\n"})
	build(t, d, netDir, "--network", "none", "-t", "net-none")
	if out := d.Must("run", "--rm", "net-none", "cat", "/net"); out != "lo" {
		t.Errorf("--network none: %q", out)
	}
	hostDir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN readlink /proc/self/ns/net > /netns\n"})
	build(t, d, hostDir, "--network", "host", "-t", "net-host")
	hostNS, _ := os.Readlink("/proc/self/ns/net")
	if out := d.Must("run", "--rm", "net-host", "cat", "/netns"); out != hostNS {
		t.Errorf("--network host: RUN was in %q, the host is %q", out, hostNS)
	}
	// RUN --network=none in the Dockerfile wins over the build's network.
	build(t, d, writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN --network=none ls /sys/class/net | tr '\\n' ' ' > /net\n"}), "--network", "host", "-t", "run-none")
	if out := d.Must("run", "--rm", "run-none", "cat", "/net"); out != "lo" {
		t.Errorf("RUN --network=none: %q", out)
	}
}

func hostArch() string {
	b, _ := os.ReadFile("/proc/sys/kernel/arch")
	switch strings.TrimSpace(string(b)) {
	case "aarch64":
		return "arm64"
	default:
		return "amd64"
	}
}

// TestOutputs exports builds as an image archive and as files.
func TestOutputs(t *testing.T) {
	d := harness.Start(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile": "FROM busybox\nRUN mkdir /out && echo artifact > /out/file && rm /bin/ls\n",
	})
	tmp := t.TempDir()
	local := filepath.Join(tmp, "local")
	r := d.Berth("", "", nil, "build", "-o", "type=local,dest="+local,
		"--output", "type=tar,dest="+filepath.Join(tmp, "rootfs.tar"),
		"--output", "type=docker,dest="+filepath.Join(tmp, "image.tar"),
		"--output", "type=oci,dest="+filepath.Join(tmp, "oci.tar"), dir)
	if r.Code != 0 {
		t.Fatalf("build: %s", r)
	}
	if b, err := os.ReadFile(filepath.Join(local, "out", "file")); err != nil || string(b) != "artifact\n" {
		t.Errorf("type=local: %q %v", b, err)
	}
	if _, err := os.Lstat(filepath.Join(local, "bin", "ls")); err == nil {
		t.Errorf("type=local: a file the build deleted is there")
	}
	if _, err := os.Stat(filepath.Join(local, "bin", "sh")); err != nil {
		t.Errorf("type=local: base image files missing: %v", err)
	}
	names := tarNames(t, filepath.Join(tmp, "rootfs.tar"))
	if !names["out/file"] || names["bin/ls"] || !names["bin/sh"] {
		t.Errorf("type=tar: out/file %v bin/ls %v bin/sh %v", names["out/file"], names["bin/ls"], names["bin/sh"])
	}
	for _, a := range []string{"image.tar", "oci.tar"} {
		if n := tarNames(t, filepath.Join(tmp, a)); !n["manifest.json"] && !n["index.json"] {
			t.Errorf("%s is no image archive: %v", a, n)
		}
	}
	// The archive loads back as an image.
	if r := d.Berth("", "", nil, "load", "-i", filepath.Join(tmp, "image.tar")); r.Code != 0 {
		t.Errorf("load of type=docker output: %s", r)
	}
}

func tarNames(t *testing.T, p string) map[string]bool {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out[strings.TrimSuffix(strings.TrimPrefix(hdr.Name, "./"), "/")] = true
	}
}

// TestSecretsCacheMountsAndParallelStages: secrets reach RUN and nothing
// else, cache mounts persist between builds, independent stages run at
// the same time.
func TestSecretsCacheMountsAndParallelStages(t *testing.T) {
	d := harness.Start(t)
	secretFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(secretFile, []byte("s3cr3t-value"), 0o600)
	dir := writeContext(t, map[string]string{"Dockerfile": `FROM busybox
RUN --mount=type=secret,id=token cat /run/secrets/token | wc -c > /secret-len
RUN --mount=type=secret,id=envtok,env=TOKEN echo "${#TOKEN}" > /env-len
RUN --mount=type=secret,id=token,target=/custom,mode=0440,uid=1 stat -c '%a %u' /custom > /secret-meta
RUN --mount=type=cache,target=/cache echo run >> /cache/runs && wc -l < /cache/runs > /runs-seen
`})
	env := []string{"ENVTOK=from-env"}
	r := d.Berth("", "", env, "build", "--secret", "id=token,src="+secretFile, "--secret", "id=envtok,env=ENVTOK", "-t", "secrets", dir)
	if r.Code != 0 {
		t.Fatalf("build: %s", r)
	}
	out := d.Must("run", "--rm", "secrets", "sh", "-c", "cat /secret-len /env-len /secret-meta /runs-seen; [ -e /run/secrets ] && echo stub left || echo no stub")
	if out != "12\n8\n440 1\n1\nno stub" {
		t.Errorf("secrets: %q", out)
	}
	// The secret is in no layer, config or history.
	for _, p := range berthTree(t, d, "secrets") {
		if strings.Contains(p, "s3cr3t") {
			t.Errorf("secret content in a layer")
		}
	}
	cfg, _ := json.Marshal(imageConfig(t, d, "secrets"))
	if strings.Contains(string(cfg), "s3cr3t") || strings.Contains(string(cfg), "from-env") {
		t.Errorf("secret in the image config: %s", cfg)
	}
	// A required secret that is missing fails the build.
	if r := d.Berth("", "", nil, "build", "--no-cache", writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN --mount=type=secret,id=missing,required=true true\n"})); r.Code == 0 || !strings.Contains(r.Stderr, "missing") {
		t.Errorf("missing required secret: %s", r)
	}
	// The cache mount keeps its content for the next build.
	r = d.Berth("", "", env, "build", "--no-cache", "--secret", "id=token,src="+secretFile, "--secret", "id=envtok,env=ENVTOK", "-t", "secrets2", dir)
	if r.Code != 0 {
		t.Fatalf("second build: %s", r)
	}
	if out := d.Must("run", "--rm", "secrets2", "cat", "/runs-seen"); out != "2" {
		t.Errorf("cache mount runs seen: %q, want 2", out)
	}

	// Stages a and b wait for each other through a shared cache mount:
	// a sequential builder never finishes this (each gives up after 60 s).
	par := writeContext(t, map[string]string{"Dockerfile": `FROM busybox AS a
RUN --mount=type=cache,target=/sync,id=sync-` + harness.RandHex(4) + `,sharing=shared touch /sync/a && for i in $(seq 600); do [ -e /sync/b ] && exit 0; sleep 0.1; done; exit 1
FROM busybox AS b
RUN --mount=type=cache,target=/sync,id=sync-SAME,sharing=shared touch /sync/b && for i in $(seq 600); do [ -e /sync/a ] && exit 0; sleep 0.1; done; exit 1
FROM busybox
COPY --from=a /etc/passwd /a
COPY --from=b /etc/passwd /b
`})
	df, _ := os.ReadFile(filepath.Join(par, "Dockerfile"))
	id := strings.SplitN(strings.SplitN(string(df), "id=", 2)[1], ",", 2)[0]
	os.WriteFile(filepath.Join(par, "Dockerfile"), []byte(strings.ReplaceAll(string(df), "sync-SAME", id)), 0o644)
	if r := d.Berth("", "", nil, "build", par); r.Code != 0 {
		t.Errorf("parallel stages: %s", r)
	}
}
