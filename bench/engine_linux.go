package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/berth-project/berth/internal/testbundle"
)

// benchImage is the busybox image the engine benchmarks run. No registry is
// reachable, so it is imported into each engine from busybox-static.
const benchImage = "berth-bench/busybox:latest"

// parallelContainers is how many containers engine-parallel starts at once.
const parallelContainers = 20

func engineRun() Benchmark {
	return Benchmark{
		Name:  "engine-run",
		Order: 20,
		Title: "run --rm --network none IMG true",
		About: "One run is `ENGINE run --rm --network none " + benchImage + " true`:\n" +
			`the CLI asks the engine to create the container, start it, wait for its
exit and remove it. ` + benchImage + ` is busybox-static imported into each
engine (no registry is reachable). docker is the first docker CLI on PATH
talking to dockerd (containerd, runc); podman runs crun through conmon.
Target (issue 4): berth ≤ 50 ms.`,
		Setup: func(env Env) ([]Contender, func(), error) {
			return setupEngines(env, func(e engineCLI) func(int) (time.Duration, error) {
				return func(int) (time.Duration, error) {
					return timeCmd(env.Ctx, env.Timeout, e.cmd("run", "--rm", "--network", "none", e.image, "true")...)
				}
			})
		},
	}
}

func engineParallel() Benchmark {
	return Benchmark{
		Name:  "engine-parallel",
		Order: 30,
		Title: fmt.Sprintf("%d detached containers started in parallel", parallelContainers),
		About: fmt.Sprintf(`One run starts %d `+"`ENGINE run -d --network none --name NAME "+benchImage+" sleep 3600`"+`
at once and measures the time until every one of those commands has returned
(the container is running then; the harness checks that with `+"`inspect`"+`
afterwards). The containers are then removed with `+"`rm -f`"+`, outside the
measured time. Target (issue 4): berth ≤ 1 s.`, parallelContainers),
		Setup: func(env Env) ([]Contender, func(), error) {
			return setupEngines(env, func(e engineCLI) func(int) (time.Duration, error) {
				return func(seq int) (time.Duration, error) { return startParallel(env, e, seq) }
			})
		},
	}
}

// engineCLI is a Docker-compatible command line: docker, podman, berth.
type engineCLI struct {
	name  string
	bin   string
	image string // the image this engine runs (benchImage unless noted)
}

func (e engineCLI) cmd(args ...string) []string { return append([]string{e.bin}, args...) }

// rm returns the command that force-removes containers at once. podman's
// rm -f first sends the stop signal and waits its stop timeout (10 s; sleep
// as pid 1 ignores SIGTERM): -t 0 kills at once, as docker's rm -f does.
func (e engineCLI) rm(names ...string) []string {
	args := []string{"rm", "-f"}
	if e.name == "podman" {
		args = append(args, "-t", "0")
	}
	return e.cmd(append(args, names...)...)
}

// namePrefix is the prefix of the containers this process names.
func (e engineCLI) namePrefix() string { return fmt.Sprintf("bench-%s-%d-", e.name, os.Getpid()) }

// setupEngines finds docker, podman and berth, imports the benchmark image
// into each one that works, and makes one contender per engine.
func setupEngines(env Env, runFor func(engineCLI) func(int) (time.Duration, error)) ([]Contender, func(), error) {
	tmp, err := os.MkdirTemp(env.TmpDir, "berth-bench-engine-")
	if err != nil {
		return nil, nil, fmt.Errorf("temp dir: %w", err)
	}
	var engines []engineCLI
	cleanup := func() {
		for _, e := range engines {
			removeNamed(env, e)
		}
		if err := os.RemoveAll(tmp); err != nil {
			fmt.Fprintf(env.Log, "   cleanup: %v\n", err)
		}
	}
	rootfsTar := filepath.Join(tmp, "rootfs.tar")
	tarErr := makeRootfsTar(tmp, rootfsTar)

	contenders := engineContenders(env, benchImage, func(c *Contender, eng engineCLI) {
		if tarErr != nil {
			c.SetupErr = tarErr
			return
		}
		c.Version = engineVersion(eng)
		if err := ensureImage(env, &eng, rootfsTar); err != nil {
			c.SetupErr = err
			return
		}
		if eng.image != benchImage {
			c.Version += " (image " + eng.image + ")"
		}
		engines = append(engines, eng)
		c.Run = runFor(eng)
	})
	return contenders, cleanup, nil
}

// engineContenders makes one contender per engine CLI (docker, podman,
// berth) running image; ready completes those that are available.
func engineContenders(env Env, image string, ready func(c *Contender, eng engineCLI)) []Contender {
	var contenders []Contender
	for _, e := range []struct {
		name string
		peer bool
		bin  string
	}{
		{"docker", true, lookPath("docker")},
		{"podman", true, lookPath("podman")},
		{"berth", false, env.Berth},
	} {
		c := Contender{Name: e.name, Peer: e.peer, Unavailable: unavailable(e.name, e.peer, e.bin)}
		if c.Unavailable == "" {
			ready(&c, engineCLI{name: e.name, bin: e.bin, image: image})
		}
		contenders = append(contenders, c)
	}
	return contenders
}

// unavailable says why a contender cannot run: a peer not installed, or
// no usable berth binary ("" when it can).
func unavailable(name string, peer bool, bin string) string {
	switch {
	case peer && bin == "":
		return name + " is not installed (hack/install-peers.sh)"
	case !peer:
		return berthMissing(bin)
	}
	return ""
}

func lookPath(name string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		return ""
	}
	return p
}

// makeRootfsTar writes a tar of a busybox root filesystem to dst.
func makeRootfsTar(tmp, dst string) error {
	dir := filepath.Join(tmp, "rootfs")
	if err := testbundle.Rootfs(dir); err != nil {
		return fmt.Errorf("busybox rootfs for the image: %w", err)
	}
	if _, err := timeCmd(context.Background(), 2*time.Minute, "tar", "-C", dir, "-cf", dst, "."); err != nil {
		return fmt.Errorf("tar the image rootfs: %w", err)
	}
	return nil
}

// ensureImage makes benchImage available to e: already there, or imported
// from the rootfs tar (`import`), or, failing that, loaded from the image
// docker or podman saves (`load`).
func ensureImage(env Env, e *engineCLI, rootfsTar string) error {
	if hasImage(*e) {
		return nil
	}
	_, importErr := timeCmd(env.Ctx, 5*time.Minute, e.cmd("import",
		"-c", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"-c", `CMD ["sh"]`, rootfsTar, benchImage)...)
	if importErr == nil && hasImage(*e) {
		fmt.Fprintf(env.Log, "   %s: imported %s\n", e.name, benchImage)
		return nil
	}
	for _, src := range []string{"docker", "podman"} {
		if src == e.name || lookPath(src) == "" {
			continue
		}
		saved := filepath.Join(filepath.Dir(rootfsTar), src+"-image.tar")
		if _, err := os.Stat(saved); err != nil {
			if _, err := timeCmd(env.Ctx, 5*time.Minute, src, "save", "-o", saved, benchImage); err != nil {
				continue
			}
		}
		if _, err := timeCmd(env.Ctx, 5*time.Minute, e.cmd("load", "-i", saved)...); err == nil && hasImage(*e) {
			fmt.Fprintf(env.Log, "   %s: loaded %s from %s save\n", e.name, benchImage, src)
			return nil
		}
	}
	// berth's daemon seeds a "busybox" image from the same busybox-static
	// on its first start; use it while berth has no import/load commands.
	if e.name == "berth" {
		if _, err := timeCmd(env.Ctx, time.Minute, e.cmd("run", "--rm", "--network", "none", "busybox", "true")...); err == nil {
			e.image = "busybox"
			fmt.Fprintf(env.Log, "   berth: using its seeded busybox image (same busybox-static)\n")
			return nil
		}
	}
	return fmt.Errorf("cannot make image %s available to %s: %v", benchImage, e.name, importErr)
}

func hasImage(e engineCLI) bool {
	_, err := output(time.Minute, e.cmd("image", "inspect", benchImage)...)
	return err == nil
}

// engineVersion describes the engine and the OCI runtime it uses.
func engineVersion(e engineCLI) string {
	switch e.name {
	case "docker":
		v, err := output(30*time.Second, e.bin, "version", "--format", "{{.Server.Version}} (CLI {{.Client.Version}})")
		if err != nil {
			return ""
		}
		if rt, err := output(30*time.Second, e.bin, "info", "--format", "{{.DefaultRuntime}}"); err == nil {
			v += ", runtime " + rt
		}
		return v
	case "podman":
		v, err := output(30*time.Second, e.bin, "version", "--format", "{{.Client.Version}}")
		if err != nil {
			return ""
		}
		if rt, err := output(30*time.Second, e.bin, "info", "--format", "{{.Host.OCIRuntime.Name}} {{.Host.OCIRuntime.Version}}"); err == nil {
			name, ver, _ := strings.Cut(rt, " ")
			v += ", runtime " + name + " " + versionOf(ver)
		}
		return v
	default:
		v, err := output(30*time.Second, e.bin, "version", "--format", "{{.Server.Version}}")
		if err != nil {
			return ""
		}
		return v
	}
}

// startParallel starts parallelContainers detached containers at once and
// returns the time until all their run commands returned. It removes them
// before returning, outside the measured time.
func startParallel(env Env, e engineCLI, seq int) (time.Duration, error) {
	names := make([]string, parallelContainers)
	for k := range names {
		names[k] = fmt.Sprintf("%s%d-%d", e.namePrefix(), seq, k)
	}
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	start := time.Now()
	for k, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[k] = timeCmd(env.Ctx, env.Timeout, e.cmd("run", "-d", "--network", "none", "--name", name, e.image, "sleep", "3600")...)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	running, inspectErr := output(time.Minute, e.cmd(append([]string{"inspect", "--format", "{{.State.Running}}"}, names...)...)...)
	if _, err := timeCmd(context.Background(), 5*time.Minute, e.rm(names...)...); err != nil {
		fmt.Fprintf(env.Log, "   %s: remove: %v\n", e.name, err)
	}
	for _, err := range errs {
		if err != nil {
			return elapsed, err
		}
	}
	if inspectErr != nil {
		return elapsed, fmt.Errorf("check that the containers run: %w", inspectErr)
	}
	if n := strings.Count(running, "true"); n != len(names) {
		return elapsed, fmt.Errorf("%d of %d containers running after their run -d returned", n, len(names))
	}
	return elapsed, nil
}

// removeNamed removes the containers this process created in e that are
// still there (after a failed run).
func removeNamed(env Env, e engineCLI) {
	out, err := output(time.Minute, e.cmd("ps", "-aq", "--filter", "name="+e.namePrefix())...)
	if err != nil || out == "" {
		return
	}
	ids := strings.Fields(out)
	fmt.Fprintf(env.Log, "   %s: removing %d leftover containers\n", e.name, len(ids))
	if _, err := timeCmd(context.Background(), 5*time.Minute, e.rm(ids...)...); err != nil {
		fmt.Fprintf(env.Log, "   %s: %v\n", e.name, err)
	}
}
