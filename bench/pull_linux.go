package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// pullRef is the repository and tag of the image-pull benchmark.
const pullRepo, pullTag = "bench/pull", "latest"

func imagePull() Benchmark {
	return Benchmark{
		Name:  "image-pull",
		Order: 50,
		Title: "pull of a 10-layer image (~200 MB unpacked) from a local registry",
		About: fmt.Sprintf(`One run pulls an image from a registry on 127.0.0.1 into the
engine's store, unpacked and ready to run: a busybox layer and %d layers of
%d MiB of files (half random, half repetitive bytes, so gzip halves them),
stored gzip-compressed; about 200 MB unpacked, 100 MB to download. The
registry is `+"`berth registry serve`"+` (the same one for every contender). Before
each run, outside the measured time, the image is removed (`+"`rmi -f`"+`, which
also frees its layers) and `+"`sync`"+` flushes what the previous run wrote.
Contenders: `+"`berth pull`"+` (a daemon of its own, data root on the same
filesystem as docker's and podman's), `+"`docker pull`"+`
(dockerd with containerd), `+"`podman pull --tls-verify=false`"+`, and
`+"`skopeo copy docker://… containers-storage:…`"+` (podman's store). Target (issue 6): berth
≥ 2× faster than the fastest peer, with bounded memory (the berth daemon's
peak resident memory during the runs is noted below).`, pullImageLayers, pullLayerSize>>20),
		Setup: setupPull,
	}
}

func setupPull(env Env) ([]Contender, func(), error) {
	tmp, err := os.MkdirTemp(env.TmpDir, "berth-bench-pull-")
	if err != nil {
		return nil, nil, fmt.Errorf("temp dir: %w", err)
	}
	var reg *benchRegistry
	var daemon *benchDaemon
	var ref string
	var removers []func()
	cleanup := func() {
		for _, rm := range removers {
			rm()
		}
		reg.stop()
		daemon.stop()
		if err := os.RemoveAll(tmp); err != nil {
			fmt.Fprintf(env.Log, "   cleanup: %v\n", err)
		}
	}
	if msg := berthMissing(env.Berth); msg != "" {
		return nil, cleanup, fmt.Errorf("the registry of this benchmark is berth's: %s", msg)
	}
	im, err := makeBenchImage(tmp)
	if err != nil {
		return nil, cleanup, fmt.Errorf("generate the image: %w", err)
	}
	if reg, err = startBerthRegistry(env.Berth, filepath.Join(tmp, "registry")); err != nil {
		return nil, cleanup, err
	}
	if err := pushBenchImage(env.Ctx, http.DefaultClient, "http://"+reg.host, pullRepo, pullTag, im); err != nil {
		return nil, cleanup, fmt.Errorf("push the image to the registry: %w", err)
	}
	ref = reg.host + "/" + pullRepo + ":" + pullTag
	fmt.Fprintf(env.Log, "   image %s: %d layers, %.0f MB to download, %.0f MB unpacked\n",
		ref, len(im.blobs)-1, float64(im.compressedSize())/1e6, float64(im.unpacked)/1e6)

	flush := func() { timeCmd(context.Background(), 5*time.Minute, "sync") }
	type puller struct {
		name string
		peer bool
		bin  string
		rm   []string
		pull []string
	}
	podman := lookPath("podman")
	berthArgv := []string{env.Berth}
	if daemon, err = startBenchDaemon(env.Berth, filepath.Join(tmp, "daemon"), "bp"); err != nil {
		return nil, cleanup, err
	}
	berthArgv = append(berthArgv, "-H", "unix://"+daemon.sock)
	pullers := []puller{
		{"docker", true, lookPath("docker"), []string{"rmi", "-f", ref}, []string{"pull", "-q", ref}},
		{"podman", true, podman, []string{"rmi", "-f", ref}, []string{"pull", "-q", "--tls-verify=false", ref}},
		{"skopeo", true, lookPath("skopeo"), nil, []string{"copy", "-q", "--src-tls-verify=false", "docker://" + ref, "containers-storage:" + ref}},
		{"berth", false, env.Berth, []string{"rmi", "-f", ref}, []string{"pull", "-q", ref}},
	}
	var contenders []Contender
	for _, p := range pullers {
		c := Contender{Name: p.name, Peer: p.peer}
		rmArgv := append([]string{p.bin}, p.rm...)
		if p.name == "skopeo" {
			// skopeo writes into podman's store: podman removes.
			if podman == "" {
				c.Unavailable = "skopeo copies into containers-storage, which needs podman to empty it"
			}
			rmArgv = []string{podman, "rmi", "-f", ref}
		}
		if c.Unavailable == "" {
			c.Unavailable = unavailable(p.name, p.peer, p.bin)
		}
		if c.Unavailable == "" {
			c.Version = pullerVersion(p.name, p.bin)
			argv := append([]string{p.bin}, p.pull...)
			if p.name == "berth" {
				rmArgv = append(append([]string{}, berthArgv...), p.rm...)
				argv = append(append([]string{}, berthArgv...), p.pull...)
			}
			removers = append(removers, func() { timeCmd(context.Background(), 5*time.Minute, rmArgv...) })
			var peak int64
			var mu sync.Mutex
			c.Run = func(int) (time.Duration, error) {
				timeCmd(env.Ctx, 5*time.Minute, rmArgv...)
				flush()
				pid := 0
				if p.name == "berth" {
					pid = daemon.cmd.Process.Pid
					daemonPeakRSS(pid) // reset
				}
				d, err := timeCmd(env.Ctx, env.Timeout, argv...)
				if pid > 0 {
					mu.Lock()
					peak = max(peak, daemonPeakRSS(pid))
					mu.Unlock()
				}
				return d, err
			}
			if p.name == "berth" {
				c.Notes = func() []string {
					mu.Lock()
					defer mu.Unlock()
					if peak == 0 {
						return nil
					}
					return []string{fmt.Sprintf("the daemon's peak resident memory during a pull was %.0f MiB", float64(peak)/(1<<20))}
				}
			}
		}
		contenders = append(contenders, c)
	}
	return contenders, cleanup, nil
}

func pullerVersion(name, bin string) string {
	switch name {
	case "docker":
		return engineVersion(engineCLI{name: "docker", bin: bin})
	case "podman":
		return engineVersion(engineCLI{name: "podman", bin: bin})
	case "skopeo":
		out, err := output(30*time.Second, bin, "--version")
		if err != nil {
			return ""
		}
		f := strings.Fields(out)
		return f[len(f)-1]
	}
	return engineVersion(engineCLI{name: name, bin: bin})
}

func registryThroughput() Benchmark {
	return Benchmark{
		Name:  "registry-throughput",
		Order: 55,
		Title: "push then pull of the image-pull image, registry server side",
		About: `One run pushes the image of image-pull (its 11 blobs, 4 at a time, each as
POST, one streamed PATCH and PUT, then the manifest) to a new repository of
the registry and downloads every blob back (4 at a time, digests checked),
from one client in the benchmark process over 127.0.0.1. The contenders are
the servers: ` + "`berth registry serve`" + ` and Debian's docker-registry (CNCF
distribution 2.8, filesystem storage), each on its own fresh root. The
blobs are the same for both; each run uses a new repository, so every byte
is uploaded (neither server keeps a session between repositories). Target
(issue 6): berth ≥ 1× docker-registry's throughput, i.e. a median no
longer than docker-registry's.`,
		Setup: setupThroughput,
	}
}

func setupThroughput(env Env) ([]Contender, func(), error) {
	tmp, err := os.MkdirTemp(env.TmpDir, "berth-bench-registry-")
	if err != nil {
		return nil, nil, fmt.Errorf("temp dir: %w", err)
	}
	var regs []*benchRegistry
	cleanup := func() {
		for _, r := range regs {
			r.stop()
		}
		if err := os.RemoveAll(tmp); err != nil {
			fmt.Fprintf(env.Log, "   cleanup: %v\n", err)
		}
	}
	im, err := makeBenchImage(tmp)
	if err != nil {
		return nil, cleanup, fmt.Errorf("generate the image: %w", err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}}
	var contenders []Contender
	for _, name := range []string{"docker-registry", "berth"} {
		c := Contender{Name: name, Peer: name != "berth"}
		var reg *benchRegistry
		var err error
		if name == "berth" {
			if c.Unavailable = berthMissing(env.Berth); c.Unavailable == "" {
				reg, err = startBerthRegistry(env.Berth, filepath.Join(tmp, "berth"))
				c.Version = "(registry serve)"
			}
		} else {
			if lookPath("docker-registry") == "" {
				c.Unavailable = "docker-registry is not installed (hack/install-peers.sh)"
			} else {
				reg, err = startDockerRegistry(filepath.Join(tmp, "docker-registry"))
				c.Version = dockerRegistryVersion()
			}
		}
		if err != nil {
			c.SetupErr = err
		}
		if reg != nil {
			regs = append(regs, reg)
			base := "http://" + reg.host
			c.Run = func(seq int) (time.Duration, error) {
				repo := fmt.Sprintf("bench/throughput-%d-%d", os.Getpid(), seq)
				start := time.Now()
				if err := pushBenchImage(env.Ctx, client, base, repo, "latest", im); err != nil {
					return 0, err
				}
				if err := pullBenchBlobs(env.Ctx, client, base, repo, im); err != nil {
					return 0, err
				}
				return time.Since(start), nil
			}
			size := im.compressedSize()
			c.Notes = func() []string {
				return []string{fmt.Sprintf("each run moves %.0f MB up and %.0f MB down", float64(size)/1e6, float64(size)/1e6)}
			}
		}
		contenders = append(contenders, c)
	}
	return contenders, cleanup, nil
}
