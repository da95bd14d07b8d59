package build

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image"
)

func baseImage() Image {
	var img Image
	img.ID = digest.Digest("sha256:" + strings.Repeat("a", 64))
	img.Config.OS, img.Config.Architecture = "linux", "amd64"
	img.Config.Config.Env = []string{"PATH=/bin"}
	img.Config.Config.Cmd = []string{"sh"}
	img.Layers = []Layer{*fakeLayer(nil, "base")}
	img.Config.RootFS.Type = "layers"
	img.Config.RootFS.DiffIDs = []digest.Digest{img.Layers[0].DiffID}
	return img
}

func run(t *testing.T, b *fakeBackend, df string, o Options) (*Result, string) {
	t.Helper()
	var out bytes.Buffer
	o.Dockerfile = []byte(df)
	o.Out = &out
	res, err := Build(context.Background(), b, o)
	if err != nil {
		t.Fatalf("build: %v\noutput:\n%s", err, out.String())
	}
	return res, out.String()
}

func buildErr(t *testing.T, b *fakeBackend, df string, o Options) error {
	t.Helper()
	o.Dockerfile = []byte(df)
	_, err := Build(context.Background(), b, o)
	if err == nil {
		t.Fatalf("build of %q succeeded", df)
	}
	return err
}

func TestConfigInstructions(t *testing.T) {
	b := newFake()
	b.images["base"] = baseImage()
	res, _ := run(t, b, `FROM base
MAINTAINER someone
ENV A=1 B="two words"
ENV A=3
LABEL l1=v1 "l 2"="v 2"
EXPOSE 80 53/udp 8000-8002
VOLUME ["/data", "/logs"]
USER 1000:1000
WORKDIR /srv
WORKDIR app
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=5s --timeout=2s --retries=4 CMD true
SHELL ["/bin/ash", "-eo", "pipefail", "-c"]
ENTRYPOINT echo hi
CMD ["x"]
ONBUILD RUN echo triggered
`, Options{})
	c := res.Image.Config.Config
	if want := []string{"PATH=/bin", "A=3", "B=two words"}; !reflect.DeepEqual(c.Env, want) {
		t.Errorf("Env %q, want %q", c.Env, want)
	}
	if want := map[string]string{"l1": "v1", "l 2": "v 2"}; !reflect.DeepEqual(c.Labels, want) {
		t.Errorf("Labels %v", c.Labels)
	}
	for _, p := range []string{"80/tcp", "53/udp", "8000/tcp", "8001/tcp", "8002/tcp"} {
		if _, ok := c.ExposedPorts[p]; !ok {
			t.Errorf("ExposedPorts %v lacks %s", c.ExposedPorts, p)
		}
	}
	if len(c.ExposedPorts) != 5 {
		t.Errorf("ExposedPorts %v", c.ExposedPorts)
	}
	if _, ok := c.Volumes["/logs"]; !ok || len(c.Volumes) != 2 {
		t.Errorf("Volumes %v", c.Volumes)
	}
	if c.User != "1000:1000" || c.WorkingDir != "/srv/app" || c.StopSignal != "SIGUSR1" {
		t.Errorf("User %q WorkingDir %q StopSignal %q", c.User, c.WorkingDir, c.StopSignal)
	}
	if h := c.Healthcheck; h == nil || !reflect.DeepEqual(h.Test, []string{"CMD-SHELL", "true"}) || h.Interval != int64(5*time.Second) || h.Timeout != int64(2*time.Second) || h.Retries != 4 {
		t.Errorf("Healthcheck %+v", c.Healthcheck)
	}
	// ENTRYPOINT's shell form uses the SHELL set before it.
	if want := []string{"/bin/ash", "-eo", "pipefail", "-c", "echo hi"}; !reflect.DeepEqual(c.Entrypoint, want) {
		t.Errorf("Entrypoint %q", c.Entrypoint)
	}
	if !reflect.DeepEqual(c.Cmd, []string{"x"}) || !reflect.DeepEqual(c.OnBuild, []string{"RUN echo triggered"}) {
		t.Errorf("Cmd %q OnBuild %q", c.Cmd, c.OnBuild)
	}
	if res.Image.Config.Author != "someone" {
		t.Errorf("Author %q", res.Image.Config.Author)
	}
	// WORKDIR made its directories as layers: base + 2.
	if n := len(res.Image.Config.RootFS.DiffIDs); n != 3 || len(res.Image.Layers) != 3 {
		t.Errorf("%d diff IDs, %d layers", n, len(res.Image.Layers))
	}
	// Base history plus one entry per instruction; only WORKDIRs have layers.
	h := res.Image.Config.History
	if len(h) != 15 {
		t.Fatalf("%d history entries", len(h))
	}
	for _, e := range h {
		if strings.HasPrefix(e.CreatedBy, "WORKDIR") == e.EmptyLayer {
			t.Errorf("history %q: empty_layer %v", e.CreatedBy, e.EmptyLayer)
		}
	}
}

func TestEntrypointResetsInheritedCmd(t *testing.T) {
	b := newFake()
	b.images["base"] = baseImage()
	res, _ := run(t, b, "FROM base\nENTRYPOINT [\"/bin/app\"]\n", Options{})
	if c := res.Image.Config.Config; c.Cmd != nil || !reflect.DeepEqual(c.Entrypoint, []string{"/bin/app"}) {
		t.Errorf("Cmd %q Entrypoint %q", c.Cmd, c.Entrypoint)
	}
	res, _ = run(t, b, "FROM base\nCMD [\"a\"]\nENTRYPOINT [\"/bin/app\"]\n", Options{})
	if c := res.Image.Config.Config; !reflect.DeepEqual(c.Cmd, []string{"a"}) {
		t.Errorf("CMD before ENTRYPOINT lost: %q", c.Cmd)
	}
}

func TestScratchAndPlatform(t *testing.T) {
	b := newFake()
	b.files["bin/app"] = "binary"
	res, _ := run(t, b, "FROM scratch\nCOPY bin/app /app\nCMD [\"/app\"]\n", Options{})
	cfg := res.Image.Config
	if cfg.OS != "linux" || cfg.Architecture == "" || len(cfg.Config.Env) != 1 || !strings.HasPrefix(cfg.Config.Env[0], "PATH=") {
		t.Errorf("scratch config: os %q arch %q env %q", cfg.OS, cfg.Architecture, cfg.Config.Env)
	}
	if len(res.Image.Layers) != 1 || len(b.imageReq) != 0 {
		t.Errorf("layers %d, image lookups %v", len(res.Image.Layers), b.imageReq)
	}
	err := buildErr(t, b, "FROM --platform=linux/s390x scratch\n", Options{})
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "linux/s390x") {
		t.Errorf("foreign platform: %v", err)
	}
}

func TestArgs(t *testing.T) {
	b := newFake()
	b.images["base"] = baseImage()
	b.images["other"] = baseImage()
	v := func(s string) *string { return &s }
	res, out := run(t, b, `ARG BASE=other
ARG GLOBAL=g
FROM $BASE
ARG GLOBAL
ARG LOCAL=l
ARG FROMUSER
ENV E=$LOCAL-$GLOBAL-$FROMUSER
ARG SHADOWED=arg
ENV SHADOWED=env
RUN echo run
`, Options{BuildArgs: map[string]*string{"BASE": v("base"), "FROMUSER": v("u"), "UNUSED": v("x"), "http_proxy": v("http://proxy")}})
	if len(b.imageReq) != 1 || b.imageReq[0] != "base" {
		t.Errorf("FROM used %v, want the --build-arg value", b.imageReq)
	}
	if e, _ := envGet(res.Image.Config.Config.Env, "E"); e != "l-g-u" {
		t.Errorf("E=%q, want l-g-u (stage ARG, global default, --build-arg)", e)
	}
	env := b.runs[0].Env
	for _, want := range []string{"GLOBAL=g", "LOCAL=l", "FROMUSER=u", "http_proxy=http://proxy", "SHADOWED=env"} {
		if !contains(env, want) {
			t.Errorf("RUN env %q lacks %s", env, want)
		}
	}
	if contains(env, "SHADOWED=arg") || contains(env, "UNUSED=x") {
		t.Errorf("RUN env %q", env)
	}
	if !strings.Contains(out, "[Warning] One or more build-args [UNUSED] were not consumed") {
		t.Errorf("no unused-arg warning:\n%s", out)
	}
	for _, h := range res.Image.Config.History {
		if strings.Contains(h.CreatedBy, "proxy") {
			t.Errorf("proxy arg in history: %q", h.CreatedBy)
		}
	}
	// Args are not in the image.
	for _, kv := range res.Image.Config.Config.Env {
		if strings.HasPrefix(kv, "LOCAL=") || strings.HasPrefix(kv, "GLOBAL=") {
			t.Errorf("arg leaked into Env: %q", kv)
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

const cacheDockerfile = `FROM base
ARG V=1
RUN echo first
COPY a.txt /a/
RUN echo after-a
COPY b.txt /b/
RUN echo after-b $V
`

func TestCacheKeys(t *testing.T) {
	b := newFake()
	b.images["base"] = baseImage()
	b.files["a.txt"], b.files["b.txt"] = "A", "B"
	first, _ := run(t, b, cacheDockerfile, Options{})
	if r, c, _ := b.counts(); r != 3 || c != 2 {
		t.Fatalf("cold build ran %d RUN and %d COPY", r, c)
	}
	second, out := run(t, b, cacheDockerfile, Options{})
	if r, c, _ := b.counts(); r != 0 || c != 0 {
		t.Fatalf("no-change rebuild ran %d RUN and %d COPY:\n%s", r, c, out)
	}
	if strings.Count(out, "---> CACHED") != 5 {
		t.Errorf("want 5 CACHED steps:\n%s", out)
	}
	if !sameConfig(first, second) {
		t.Errorf("no-change rebuild changed the image config")
	}

	// Touching b.txt redoes only the COPY of it and what follows.
	b.files["b.txt"] = "B2"
	_, out = run(t, b, cacheDockerfile, Options{})
	if r, c, _ := b.counts(); r != 1 || c != 1 {
		t.Fatalf("one-file rebuild ran %d RUN and %d COPY:\n%s", r, c, out)
	}
	if !strings.Contains(out, "Cache miss: source files changed: b.txt") {
		t.Errorf("no miss reason naming b.txt:\n%s", out)
	}
	// A build arg in effect is an input of RUN.
	v := "2"
	_, out = run(t, b, cacheDockerfile, Options{BuildArgs: map[string]*string{"V": &v}})
	if r, c, _ := b.counts(); r != 3 || c != 2 {
		// The first RUN after ARG V sees the new value; all after it rerun.
		t.Fatalf("arg change ran %d RUN and %d COPY:\n%s", r, c, out)
	}
	if !strings.Contains(out, "Cache miss: build args changed: V") || !strings.Contains(out, "Cache miss: a previous step was rebuilt") {
		t.Errorf("no miss reason naming V:\n%s", out)
	}
	// --no-cache redoes everything.
	_, out = run(t, b, cacheDockerfile, Options{NoCache: true})
	if r, c, _ := b.counts(); r != 3 || c != 2 {
		t.Fatalf("--no-cache ran %d RUN and %d COPY", r, c)
	}
	if !strings.Contains(out, "Cache miss: --no-cache") {
		t.Errorf("--no-cache not given as reason:\n%s", out)
	}
}

func sameConfig(a, b *Result) bool {
	x, _ := json.Marshal(a.Image.Config)
	y, _ := json.Marshal(b.Image.Config)
	return bytes.Equal(x, y)
}

func TestSourceDateEpoch(t *testing.T) {
	b := newFake()
	b.images["base"] = baseImage()
	b.files["a.txt"] = "A"
	epoch := time.Unix(1700000000, 0).UTC()
	res, _ := run(t, b, "FROM base\nCOPY a.txt /\nENV X=1\n", Options{SourceDateEpoch: &epoch})
	if !res.Image.Config.Created.Equal(epoch) {
		t.Errorf("created %v", res.Image.Config.Created)
	}
	for _, h := range res.Image.Config.History {
		if !h.Created.Equal(epoch) {
			t.Errorf("history %q created %v", h.CreatedBy, h.Created)
		}
	}
	if b.copies[0].SourceDateEpoch == nil || !b.copies[0].SourceDateEpoch.Equal(epoch) {
		t.Errorf("COPY not told the epoch")
	}
}

func TestMultiStageParallelAndSkipped(t *testing.T) {
	b := newFake()
	b.images["base"] = baseImage()
	b.images["unused-base"] = baseImage()
	// The RUN of stage a and of stage b must overlap: each waits until
	// both have started (a sequential builder never gets there).
	var mu sync.Mutex
	started := map[string]bool{}
	both := make(chan struct{})
	b.onRun = func(r RunRequest) error {
		name := r.Args[len(r.Args)-1]
		if name != "echo a" && name != "echo b" {
			return nil
		}
		mu.Lock()
		started[name] = true
		if len(started) == 2 {
			close(both)
		}
		mu.Unlock()
		select {
		case <-both:
			return nil
		case <-time.After(60 * time.Second):
			return errors.New("stages a and b did not run in parallel")
		}
	}
	res, out := run(t, b, `FROM base AS a
RUN echo a
FROM unused-base AS unused
RUN echo unused
FROM base AS b
RUN echo b
FROM base
COPY --from=a /x /xa
COPY --from=b /x /xb
`, Options{})
	for _, ref := range b.imageReq {
		if ref == "unused-base" {
			t.Errorf("the unneeded stage resolved its base image")
		}
	}
	if strings.Contains(out, "echo unused") {
		t.Errorf("the unneeded stage ran:\n%s", out)
	}
	if len(res.Image.Layers) != 3 {
		t.Errorf("%d layers", len(res.Image.Layers))
	}
	// --target picks a stage and what it needs only.
	b.counts()
	b.onRun = nil
	_, out = run(t, b, "FROM base AS a\nRUN echo a\nFROM base AS b\nRUN echo b\nFROM b AS c\nRUN echo c\n", Options{Target: "c"})
	if strings.Contains(out, "echo a") || !strings.Contains(out, "echo c") {
		t.Errorf("--target c:\n%s", out)
	}
	err := buildErr(t, b, "FROM base AS a\n", Options{Target: "nope"})
	if !strings.Contains(err.Error(), `target stage "nope" could not be found`) {
		t.Errorf("missing target: %v", err)
	}
}

func TestOnbuildTriggers(t *testing.T) {
	b := newFake()
	img := baseImage()
	img.Config.Config.OnBuild = []string{"ENV FROM_TRIGGER=1", "RUN echo trigger"}
	b.images["base"] = img
	res, out := run(t, b, "FROM base\nRUN echo own\n", Options{})
	if _, ok := envGet(res.Image.Config.Config.Env, "FROM_TRIGGER"); !ok {
		t.Errorf("trigger ENV not applied")
	}
	if res.Image.Config.Config.OnBuild != nil {
		t.Errorf("triggers kept: %q", res.Image.Config.Config.OnBuild)
	}
	if len(b.runs) != 2 || !strings.Contains(out, "# Executing 2 build triggers") {
		t.Errorf("%d RUNs:\n%s", len(b.runs), out)
	}
}

func TestRunForms(t *testing.T) {
	b := newFake()
	b.images["base"] = baseImage()
	run(t, b, `FROM base
RUN ["/bin/echo", "exec form"]
RUN <<EOF
echo one
echo two
EOF
RUN <<EOT
#!/bin/sh
echo script
EOT
RUN --network=none --mount=type=cache,target=/cache --mount=type=tmpfs,target=/t --mount=type=secret,id=tok echo mounts
`, Options{NetworkMode: "host"})
	if got := b.runs[0].Args; !reflect.DeepEqual(got, []string{"/bin/echo", "exec form"}) {
		t.Errorf("exec form: %q", got)
	}
	if got := b.runs[1].Args; !reflect.DeepEqual(got, []string{"/bin/sh", "-c", "echo one\necho two\n"}) {
		t.Errorf("heredoc: %q", got)
	}
	if r := b.runs[2]; !reflect.DeepEqual(r.Args, []string{"/dev/pipes/EOT"}) || len(r.Files) != 1 || r.Files[0].Mode != 0o755 {
		t.Errorf("shebang heredoc: %q %+v", r.Args, r.Files)
	}
	r := b.runs[3]
	if r.Network != "none" || len(r.Mounts) != 3 {
		t.Fatalf("network %q mounts %+v", r.Network, r.Mounts)
	}
	if m := r.Mounts[0]; m.Type != "cache" || m.Target != "/cache" || m.CacheID != "/cache" {
		t.Errorf("cache mount %+v", m)
	}
	if m := r.Mounts[2]; m.Type != "secret" || m.SecretID != "tok" || m.Target != "/run/secrets/tok" {
		t.Errorf("secret mount %+v", m)
	}
	if b.runs[0].Network != "host" {
		t.Errorf("default network %q, want the build's", b.runs[0].Network)
	}
}

func TestErrors(t *testing.T) {
	b := newFake()
	b.images["base"] = baseImage()
	b.files["a"], b.files["b"] = "1", "2"
	cases := []struct{ df, want string }{
		{"FROM base\nFOO bar\n", "Dockerfile:2: dockerfile parse error on line 2: unknown instruction: FOO"},
		{"FROM base\nENV\n", "Dockerfile:2: dockerfile parse error on line 2: ENV requires at least one argument"},
		{"", "the Dockerfile (Dockerfile) cannot be empty"},
		{"RUN echo\n", "no build stage"},
		{"FROM base\nCOPY a b /dest\n", "When using COPY with more than one source file, the destination must be a directory and end with a /"},
		{"FROM base\nCOPY nope /\n", "COPY failed: file not found in build context or excluded by .dockerignore: stat nope: file does not exist"},
		{"FROM base\nSTOPSIGNAL SIGNOPE\n", "Invalid signal: SIGNOPE"},
		{"FROM base AS a\nCOPY --from=a /x /y\n", "refers to current build stage"},
		{"FROM missing\n", "No such image: missing"},
		{"FROM base\nVOLUME [\"\"]\n", "VOLUME specified can not be an empty string"},
	}
	for _, c := range cases {
		err := buildErr(t, b, c.df, Options{})
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %q, want %q", c.df, err, c.want)
		}
	}
	// Step errors carry their location.
	err := buildErr(t, b, "FROM base\n\nCOPY nope /\n", Options{DockerfileName: "Dockerfile.dev"})
	if loc := Location(err); loc != "Dockerfile.dev:3" {
		t.Errorf("location %q", loc)
	}
	b.onRun = func(r RunRequest) error { return errors.New("boom") }
	if err := buildErr(t, b, "FROM base\nRUN false\n", Options{}); !strings.Contains(err.Error(), "boom") {
		t.Errorf("run error: %v", err)
	}
	// A failing step records nothing in the cache.
	b.onRun = nil
	if _, ok := b.CacheGet(context.Background(), digest.Digest("sha256:"+strings.Repeat("0", 64))); ok {
		t.Fatal("fake cache broken")
	}
}

func TestLabelsOption(t *testing.T) {
	b := newFake()
	b.images["base"] = baseImage()
	res, _ := run(t, b, "FROM base AS one\nFROM base\nLABEL a=1\n", Options{Labels: map[string]string{"b": "2", "a": "from-flag"}})
	if want := map[string]string{"a": "from-flag", "b": "2"}; !reflect.DeepEqual(res.Image.Config.Config.Labels, want) {
		t.Errorf("labels %v", res.Image.Config.Config.Labels)
	}
}

func TestHealthcheckNone(t *testing.T) {
	b := newFake()
	img := baseImage()
	img.Config.Config.Healthcheck = &image.HealthConfig{Test: []string{"CMD", "x"}}
	b.images["base"] = img
	res, _ := run(t, b, "FROM base\nHEALTHCHECK NONE\n", Options{})
	if h := res.Image.Config.Config.Healthcheck; h == nil || !reflect.DeepEqual(h.Test, []string{"NONE"}) {
		t.Errorf("healthcheck %+v", h)
	}
}

var _ = ocispec.History{}
