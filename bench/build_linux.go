package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// The build benchmarks build one realistic multi-stage Dockerfile (four
// stages, two of them independent, several RUN and COPY steps) from a
// 50 MB context with berth, docker's legacy builder, docker's BuildKit and
// buildah, interleaved.
const buildDockerfile = `ARG BASE=busybox
FROM $BASE AS deps
WORKDIR /deps
COPY deps/ ./
RUN cat * | md5sum > /deps.md5 && mkdir -p /opt/deps && cp -a . /opt/deps/

FROM $BASE AS assets
WORKDIR /assets
COPY assets/ ./
RUN ls -l > /assets.list

FROM $BASE AS build
WORKDIR /src
COPY --from=deps /opt/deps /opt/deps
COPY src/ ./
RUN find . -type f | sort > /files.txt && tar -cf /app.tar . && md5sum /app.tar > /app.md5
COPY config/ /src/config/
RUN cp -a /src/config /config

FROM $BASE
RUN echo 'app:x:1000:1000::/app:/bin/sh' >> /etc/passwd && echo 'app:x:1000:' >> /etc/group
COPY --from=build /app.tar /app.md5 /files.txt /app/
COPY --from=build /config /app/config
COPY --from=assets /assets /app/assets
COPY --from=assets /assets.list /app/
ENV APP_HOME=/app
USER app
WORKDIR /app
CMD ["sh", "-c", "cat /app/app.md5"]
`

const buildAbout = "The Dockerfile (in `bench/build_linux.go`) has four stages — two independent ones (deps, assets), " +
	"a build stage that copies 40 MB of sources and tars them, and the final image — with 5 RUN and 9 COPY steps. " +
	"The context holds 50 MB that are sent (deps 5 MB, src 40 MB in 400 files, assets 5 MB, config) and 10 MB that " +
	"`.dockerignore` leaves out. Contenders: berth (its own daemon on a temporary data root), `docker build` with " +
	"the legacy builder (`DOCKER_BUILDKIT=0`, docker CLI 28, dockerd 20.10 with overlay2), `docker build` with BuildKit " +
	"(`DOCKER_BUILDKIT=1` with Debian's docker CLI 20.10 against the same dockerd) and `buildah bud --layers`; " +
	"each builds FROM the same busybox-static image."

func buildCold() Benchmark {
	return Benchmark{
		Name: "build-cold", Order: 60,
		Title: "cold build of a multi-stage Dockerfile with a 50 MB context",
		About: buildAbout + "\n\nOne run builds with no build cache: before each run (not timed) the image is removed and the build cache pruned " +
			"(`builder prune -af`; buildah: `--no-cache` and `rmi --prune`). Target (issue 7): berth ≤ 0.5× the fastest peer.",
		Setup: func(env Env) ([]Contender, func(), error) { return setupBuilders(env, modeCold) },
	}
}

func buildRebuild() Benchmark {
	return Benchmark{
		Name: "build-rebuild", Order: 61,
		Title: "rebuild of the same Dockerfile and context without changes",
		About: buildAbout + "\n\nOne run rebuilds after a build of the same context: every step is cached. Target (issue 7): berth ≤ 100 ms.",
		Setup: func(env Env) ([]Contender, func(), error) { return setupBuilders(env, modeRebuild) },
	}
}

func buildOneFile() Benchmark {
	return Benchmark{
		Name: "build-onefile", Order: 62,
		Title: "rebuild after changing one copied source file",
		About: buildAbout + "\n\nBefore each run (not timed) one file of `src/` gets new content; the build redoes the steps from " +
			"`COPY src/` on and reuses the rest (issue 7 asks for that behaviour, tested in `internal/integration/build`; " +
			"the time is reported only).",
		Setup: func(env Env) ([]Contender, func(), error) { return setupBuilders(env, modeOneFile) },
	}
}

type buildMode int

const (
	modeCold buildMode = iota
	modeRebuild
	modeOneFile
)

// builderCLI is one way to run a build.
type builderCLI struct {
	name  string
	env   []string
	bin   string
	base  string // FROM image
	build func(ctx, tag string) []string
	clean func(tag string) [][]string
}

func setupBuilders(env Env, mode buildMode) ([]Contender, func(), error) {
	tmp, err := os.MkdirTemp(env.TmpDir, "berth-bench-build-")
	if err != nil {
		return nil, nil, err
	}
	var stops []func()
	cleanup := func() {
		for _, s := range stops {
			s()
		}
		os.RemoveAll(tmp)
	}
	ctxDir := filepath.Join(tmp, "context")
	if err := writeBuildContext(ctxDir); err != nil {
		return nil, cleanup, err
	}
	tag := fmt.Sprintf("berth-bench/build:%d", os.Getpid())
	var contenders []Contender

	// berth: its own daemon on a temporary data root.
	c := Contender{Name: "berth"}
	c.Unavailable = berthMissing(env.Berth)
	if c.Unavailable == "" {
		d, err := startBenchDaemon(env.Berth, filepath.Join(tmp, "berth"), "bb")
		stops = append(stops, d.stop)
		if err != nil {
			c.SetupErr = err
		} else {
			b := builderCLI{name: "berth", bin: env.Berth, base: "busybox",
				env: []string{"BERTH_HOST=unix://" + d.sock, "BERTH_NO_AUTOSTART=1"}}
			b.build = func(dir, tag string) []string {
				return []string{b.bin, "build", "-q", "-t", tag, "--build-arg", "BASE=" + b.base, dir}
			}
			b.clean = func(tag string) [][]string {
				return [][]string{{b.bin, "rmi", "-f", tag}, {b.bin, "builder", "prune", "-af"}}
			}
			c.Version = mustOutput("env", b.env[0], b.env[1], env.Berth, "version", "--format", "{{.Server.Version}}")
			prepareBuilder(env, &c, b, ctxDir, tag, mode)
		}
	}
	contenders = append(contenders, c)

	for _, peer := range []struct {
		name, bin, buildkit string
	}{
		{"docker-legacy", "/usr/local/bin/docker", "0"},
		{"docker-buildkit", "/usr/bin/docker", "1"},
	} {
		c := Contender{Name: peer.name, Peer: true}
		if _, err := os.Stat(peer.bin); err != nil {
			c.Unavailable = peer.bin + " is not installed"
		} else if _, err := output(30*time.Second, peer.bin, "version"); err != nil {
			c.Unavailable = "dockerd does not answer"
		}
		if c.Unavailable == "" {
			b := builderCLI{name: peer.name, bin: peer.bin, base: benchImage, env: []string{"DOCKER_BUILDKIT=" + peer.buildkit}}
			b.build = func(dir, tag string) []string {
				return []string{b.bin, "build", "-q", "-t", tag, "--build-arg", "BASE=" + b.base, dir}
			}
			b.clean = func(tag string) [][]string {
				return [][]string{{b.bin, "rmi", "-f", tag}, {b.bin, "builder", "prune", "-af"}, {b.bin, "image", "prune", "-f"}}
			}
			v, _ := output(30*time.Second, peer.bin, "version", "--format", "CLI {{.Client.Version}}, dockerd {{.Server.Version}}")
			c.Version = v
			prepareBuilder(env, &c, b, ctxDir, tag, mode)
		}
		contenders = append(contenders, c)
	}

	c = Contender{Name: "buildah", Peer: true}
	if p := lookPath("buildah"); p == "" {
		c.Unavailable = "buildah is not installed"
	} else {
		b := builderCLI{name: "buildah", bin: p, base: "localhost/" + benchImage}
		b.build = func(dir, tag string) []string {
			args := []string{b.bin, "bud", "--layers", "-q", "-t", tag, "--build-arg", "BASE=" + b.base}
			if mode == modeCold {
				args = append(args, "--no-cache")
			}
			return append(args, dir)
		}
		b.clean = func(tag string) [][]string {
			return [][]string{{b.bin, "rmi", "-f", tag}, {b.bin, "rmi", "--prune"}}
		}
		v, _ := output(30*time.Second, p, "--version")
		c.Version = v
		prepareBuilder(env, &c, b, ctxDir, tag, mode)
	}
	contenders = append(contenders, c)
	cleanImages := func() {
		for _, b := range preparedBuilders {
			for _, argv := range b.clean(tag) {
				runQuiet(b.env, argv)
			}
		}
		preparedBuilders = nil
	}
	return contenders, func() { cleanImages(); cleanup() }, nil
}

// preparedBuilders are cleaned up after the benchmark.
var preparedBuilders []builderCLI

// prepareBuilder makes c's Run for mode, after a first build checks that
// b works (and fills the cache for the rebuild modes).
func prepareBuilder(env Env, c *Contender, b builderCLI, ctxDir, tag string, mode buildMode) {
	for _, argv := range b.clean(tag) {
		runQuiet(b.env, argv)
	}
	if _, err := timeEnvCmd(env.Ctx, 10*time.Minute, b.env, b.build(ctxDir, tag)...); err != nil {
		c.SetupErr = fmt.Errorf("first build: %w", err)
		return
	}
	preparedBuilders = append(preparedBuilders, b)
	srcFile := filepath.Join(ctxDir, "src", "a", "file-000.bin")
	c.Run = func(seq int) (time.Duration, error) {
		switch mode {
		case modeCold:
			for _, argv := range b.clean(tag) {
				runQuiet(b.env, argv)
			}
		case modeOneFile:
			// New content for one file: every run sees exactly one change.
			if err := os.WriteFile(srcFile, randomBytes(uint64(seq)+1000+uint64(len(b.name)), 100<<10), 0o644); err != nil {
				return 0, err
			}
		}
		return timeEnvCmd(env.Ctx, env.Timeout, b.env, b.build(ctxDir, tag)...)
	}
}

func runQuiet(env []string, argv []string) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	_ = cmd.Run()
}

// timeEnvCmd is timeCmd with extra environment variables.
func timeEnvCmd(ctx context.Context, timeout time.Duration, env []string, argv ...string) (time.Duration, error) {
	if len(env) == 0 {
		return timeCmd(ctx, timeout, argv...)
	}
	return timeCmd(ctx, timeout, append([]string{"env"}, append(env, argv...)...)...)
}

func mustOutput(argv ...string) string {
	out, _ := output(30*time.Second, argv...)
	return out
}

// writeBuildContext writes the benchmark's context: 50 MB sent, 10 MB
// ignored, incompressible and the same on every run (seeded).
func writeBuildContext(dir string) error {
	files := map[string][]byte{
		"Dockerfile":    []byte(buildDockerfile),
		".dockerignore": []byte("ignored/\n*.log\n"),
	}
	seed := uint64(1)
	add := func(name string, size int) {
		files[name] = randomBytes(seed, size)
		seed++
	}
	for i := 0; i < 20; i++ {
		add(fmt.Sprintf("deps/dep-%02d.bin", i), 250<<10)
	}
	for i := 0; i < 400; i++ {
		add(fmt.Sprintf("src/%c/file-%03d.bin", 'a'+i%8, i/8), 100<<10)
	}
	for i := 0; i < 50; i++ {
		add(fmt.Sprintf("assets/asset-%02d.bin", i), 100<<10)
	}
	for i := 0; i < 10; i++ {
		files[fmt.Sprintf("config/conf-%d.ini", i)] = []byte(fmt.Sprintf("[section]\nkey=%d\n", i))
	}
	for i := 0; i < 10; i++ {
		add(fmt.Sprintf("ignored/big-%d.bin", i), 1<<20)
	}
	files["build.log"] = []byte("ignored by .dockerignore\n")
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for k := 0; k < 8; k++ {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	return b
}
