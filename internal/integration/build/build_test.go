package build

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/integration/harness"
)

// TestBuildAndRun builds an image from the seeded busybox with the
// common instructions and runs it.
func TestBuildAndRun(t *testing.T) {
	d := harness.Start(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile": `FROM busybox
ENV GREETING=hello
WORKDIR /app
COPY hello.txt sub/ ./
RUN echo "$GREETING from RUN" > /built.txt && cat hello.txt
USER nobody
CMD ["sh", "-c", "cat /built.txt /app/hello.txt /app/inner.txt; id -u; pwd"]
`,
		"hello.txt":     "hi there\n",
		"sub/inner.txt": "inner\n",
	})
	r := build(t, d, dir, "-t", "first:v1", "-t", "first:v2")
	for _, want := range []string{"Step 5/7 : RUN", "hi there", "Successfully built", "Successfully tagged first:v1", "Successfully tagged first:v2"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("build output lacks %q:\n%s", want, r.Stdout)
		}
	}
	out := d.Must("run", "--rm", "first:v2")
	if want := "hello from RUN\nhi there\ninner\n65534\n/app"; out != want {
		t.Errorf("run: got %q, want %q", out, want)
	}
	cfg := imageConfig(t, d, "first:v1").Config
	if cfg.WorkingDir != "/app" || cfg.User != "nobody" || !reflect.DeepEqual(cfg.Cmd, []string{"sh", "-c", "cat /built.txt /app/hello.txt /app/inner.txt; id -u; pwd"}) {
		t.Errorf("config %+v", cfg)
	}
	if !contains(cfg.Env, "GREETING=hello") {
		t.Errorf("Env %q", cfg.Env)
	}
}

// TestDockerCLILegacyBuild drives berthd with the real docker CLI's
// legacy builder.
func TestDockerCLILegacyBuild(t *testing.T) {
	if _, err := os.Stat(harness.DockerCLI); err != nil {
		t.Skip("no docker CLI at " + harness.DockerCLI)
	}
	d := harness.Start(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile": "FROM busybox\nARG MSG=default\nCOPY f.txt /f.txt\nRUN echo \"$MSG\" >> /f.txt\nCMD [\"cat\", \"/f.txt\"]\n",
		"f.txt":      "from the context\n",
	})
	env := []string{"DOCKER_BUILDKIT=0"}
	r := d.Docker("", "", env, "build", "-t", "viadocker", "--build-arg", "MSG=from docker", dir)
	if r.Code != 0 {
		t.Fatalf("docker build: %s", r)
	}
	for _, want := range []string{"Step 1/5 : FROM busybox", "Successfully built", "Successfully tagged viadocker:latest"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("docker build output lacks %q:\n%s", want, r.Stdout)
		}
	}
	if out := d.Must("run", "--rm", "viadocker"); out != "from the context\nfrom docker" {
		t.Errorf("run: %q", out)
	}
	// -q prints the ID only.
	r = d.Docker("", "", env, "build", "-q", "--build-arg", "MSG=from docker", dir)
	if r.Code != 0 || !strings.HasPrefix(strings.TrimSpace(r.Stdout), "sha256:") || strings.Contains(r.Stdout, "Step") {
		t.Errorf("docker build -q: %s", r)
	}
	// A failing RUN: its output, Docker's message, its exit code.
	bad := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo failing-step-output && exit 7\n"})
	r = d.Docker("", "", env, "build", bad)
	if r.Code != 7 || !strings.Contains(r.Stdout, "failing-step-output") ||
		!strings.Contains(r.Stderr, "The command '/bin/sh -c echo failing-step-output && exit 7' returned a non-zero code: 7") {
		t.Errorf("failing RUN via docker: %s", r)
	}
	// A malformed Dockerfile: file, line and instruction.
	bad = writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN true\nFOO bar\n"})
	r = d.Docker("", "", env, "build", bad)
	if r.Code == 0 || !strings.Contains(r.Stderr, "Dockerfile:3: dockerfile parse error on line 3: unknown instruction: FOO") {
		t.Errorf("malformed Dockerfile via docker: %s", r)
	}
}

// TestFailingRunLeavesNothing checks that a failing RUN shows its output
// and exit code and leaves no snapshot, blob, mount or cache record.
func TestFailingRunLeavesNothing(t *testing.T) {
	d := harness.Start(t)
	ok := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN true\n"})
	build(t, d, ok) // unpacks busybox, fills the cache directories
	snaps, blobs := snapshotNames(t, d), blobCount(t, d)
	records, _ := os.ReadDir(filepath.Join(d.DataRoot, "build", "cache", "steps"))

	bad := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nCOPY . /ctx\nRUN echo some-output; echo to-stderr >&2; mkdir /junk; exit 42\n", "f": "x"})
	r := d.Berth("", "", nil, "build", bad)
	if r.Code != 42 {
		t.Fatalf("want exit 42: %s", r)
	}
	for _, want := range []string{"some-output", "to-stderr"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("output lacks %q: %s", want, r)
		}
	}
	if !strings.Contains(r.Stderr, "The command '/bin/sh -c echo some-output; echo to-stderr >&2; mkdir /junk; exit 42' returned a non-zero code: 42") {
		t.Errorf("error: %s", r)
	}
	// The COPY before the RUN succeeded and stays cached; nothing of the RUN remains.
	after := snapshotNames(t, d)
	if len(after) != len(snaps)+1 {
		t.Errorf("snapshots before %v, after %v: want only the COPY layer added", snaps, after)
	}
	for _, n := range after {
		if strings.HasPrefix(n, "build-") {
			t.Errorf("leftover snapshot %s", n)
		}
	}
	if n := blobCount(t, d); n != blobs+1 {
		t.Errorf("blobs %d -> %d, want only the COPY layer added", blobs, n)
	}
	if recs, _ := os.ReadDir(filepath.Join(d.DataRoot, "build", "cache", "steps")); len(recs) != len(records)+1 {
		t.Errorf("cache records %d -> %d, want only the COPY's added", len(records), len(recs))
	}
	if m := harness.MountsUnder(d.DataRoot); len(m) != 0 {
		t.Errorf("mounts left: %v", m)
	}
	if work, _ := os.ReadDir(filepath.Join(d.DataRoot, "build", "work")); len(work) != 0 {
		t.Errorf("work dirs left: %d", len(work))
	}
}

// TestMalformedDockerfile reports file, line and instruction.
func TestMalformedDockerfile(t *testing.T) {
	d := harness.Start(t)
	cases := []struct{ df, want string }{
		{"FROM busybox\nRUN true\nFOO bar\n", "Dockerfile.dev:3: dockerfile parse error on line 3: unknown instruction: FOO"},
		{"FROM busybox\nEXPOSE\n", "Dockerfile.dev:2: dockerfile parse error on line 2: EXPOSE requires at least one argument"},
		{"FROM busybox\nHEALTHCHECK --interval=xyz CMD true\n", "Dockerfile.dev:2:"},
	}
	for _, c := range cases {
		dir := writeContext(t, map[string]string{"Dockerfile.dev": c.df})
		r := d.Berth("", "", nil, "build", "-f", filepath.Join(dir, "Dockerfile.dev"), dir)
		if r.Code == 0 || !strings.Contains(r.Stderr, c.want) {
			t.Errorf("%q: %s", c.df, r)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
