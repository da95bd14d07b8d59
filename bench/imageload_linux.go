package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-project/berth/internal/testimage"
)

// loadImage is the image the image-load benchmark loads and runs.
const loadImage = "berth-bench/load:latest"

// Shape of the image-load archive: a busybox layer and loadLayers layers
// of loadFiles random files of loadFileSize bytes each (about 200 MB).
const (
	loadLayers   = 9
	loadFiles    = 180
	loadFileSize = 125 << 10
)

func imageLoad() Benchmark {
	return Benchmark{
		Name:  "image-load",
		Order: 40,
		Title: "load a 200 MB 10-layer docker archive, then run --rm IMG true",
		About: fmt.Sprintf(`One run is `+"`ENGINE load -i ARCHIVE`"+` followed by `+"`ENGINE run --rm --network none %s true`"+`,
timed together; before each run (untimed) the image is removed with `+"`rmi -f`"+`, so
every load stores and unpacks every layer again. The archive is in `+"`docker save`"+`'s
format (internal/testimage): a busybox-static layer and %d layers of %d random
(incompressible) files of %d KiB, %.0f MB in all, read from the page cache by
every engine. docker is the docker CLI talking to dockerd (containerd, overlay2);
podman loads into containers/storage (overlay). Peak memory is the daemon's
peak resident set (VmHWM, reset before each run) for berth and dockerd (with
containerd), and the load command's maximum RSS for podman, which has no daemon.
Target (issue 3): berth at most half the fastest peer's time, memory bounded.`,
			loadImage, loadLayers, loadFiles, loadFileSize>>10, float64(loadLayers*loadFiles*loadFileSize)/1e6),
		Setup: setupImageLoad,
	}
}

func setupImageLoad(env Env) ([]Contender, func(), error) {
	tmp, err := os.MkdirTemp(env.TmpDir, "berth-bench-load-")
	if err != nil {
		return nil, nil, fmt.Errorf("temp dir: %w", err)
	}
	var engines []engineCLI
	cleanup := func() {
		for _, e := range engines {
			timeCmd(env.Ctx, 5*time.Minute, e.cmd("rmi", "-f", loadImage)...)
		}
		os.RemoveAll(tmp)
	}
	img := testimage.Image{Name: loadImage, Cmd: []string{"sh"}, Seed: 42, Layers: []testimage.Layer{{Busybox: true}}}
	for i := 0; i < loadLayers; i++ {
		img.Layers = append(img.Layers, testimage.Layer{Dir: fmt.Sprintf("data/layer%d", i), Files: loadFiles, FileSize: loadFileSize})
	}
	archive := filepath.Join(tmp, "image.tar")
	fmt.Fprintf(env.Log, "   writing the archive\n")
	if err := testimage.WriteArchive(archive, tmp, img); err != nil {
		return nil, cleanup, fmt.Errorf("write the archive: %w", err)
	}
	contenders := engineContenders(env, loadImage, func(c *Contender, eng engineCLI) {
		engines = append(engines, eng)
		c.Version = engineVersion(eng)
		mem := &peakMemory{engine: eng}
		c.Run = func(int) (time.Duration, error) { return loadAndRun(env, eng, archive, mem) }
		c.Notes = mem.notes
	})
	return contenders, cleanup, nil
}

// loadAndRun removes the image (untimed), then times load + run.
func loadAndRun(env Env, e engineCLI, archive string, mem *peakMemory) (time.Duration, error) {
	if _, err := output(time.Minute, e.cmd("image", "inspect", loadImage)...); err == nil {
		if _, err := timeCmd(env.Ctx, 5*time.Minute, e.cmd("rmi", "-f", loadImage)...); err != nil {
			return 0, fmt.Errorf("remove the image before the run: %w", err)
		}
	}
	mem.reset()
	load, rss, err := timeCmdRSS(env, e.cmd("load", "-i", archive)...)
	if err != nil {
		return 0, err
	}
	run, err := timeCmd(env.Ctx, env.Timeout, e.cmd("run", "--rm", "--network", "none", loadImage, "true")...)
	if err != nil {
		return 0, err
	}
	mem.record(rss)
	return load + run, nil
}

// timeCmdRSS is timeCmd that also returns the command's maximum RSS.
func timeCmdRSS(env Env, argv ...string) (time.Duration, int64, error) {
	var rss int64
	d, err := timeCmdWith(env.Ctx, env.Timeout, func(r int64) { rss = r }, argv...)
	return d, rss, err
}

// peakMemory tracks the peak memory of an engine over the runs.
type peakMemory struct {
	engine engineCLI
	mu     sync.Mutex
	peak   map[string]int64 // process name -> peak bytes
}

// daemons returns the daemon processes whose memory counts for the
// engine, by name.
func (p *peakMemory) daemons() map[string]int {
	out := map[string]int{}
	switch p.engine.name {
	case "berth":
		if pid := pidFile("/run/berth/berth.pid"); pid > 0 {
			out["berth daemon"] = pid
		}
	case "docker":
		if pid := pidFile("/var/run/docker.pid"); pid > 0 {
			out["dockerd"] = pid
		}
		if pid := pidByName("containerd"); pid > 0 {
			out["containerd"] = pid
		}
	}
	return out
}

// reset clears the daemons' peak RSS (clear_refs 5) before a run.
func (p *peakMemory) reset() {
	for _, pid := range p.daemons() {
		os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
	}
}

// record keeps the daemons' peak RSS after a run, and the load command's.
func (p *peakMemory) record(cmdRSS int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.peak == nil {
		p.peak = map[string]int64{}
	}
	for name, pid := range p.daemons() {
		if v := vmHWM(pid); v > p.peak[name] {
			p.peak[name] = v
		}
	}
	if p.engine.name == "podman" && cmdRSS > p.peak["podman load"] {
		p.peak["podman load"] = cmdRSS
	}
}

func (p *peakMemory) notes() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var parts []string
	for _, name := range []string{"berth daemon", "dockerd", "containerd", "podman load"} {
		if v, ok := p.peak[name]; ok {
			parts = append(parts, fmt.Sprintf("%s %.0f MB", name, float64(v)/1e6))
		}
	}
	if len(parts) == 0 {
		return nil
	}
	return []string{"peak memory during a run: " + strings.Join(parts, ", ")}
}

func pidFile(p string) int {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func pidByName(name string) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm")); err == nil && strings.TrimSpace(string(comm)) == name {
			return pid
		}
	}
	return 0
}

// vmHWM is a process's peak resident set in bytes.
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
