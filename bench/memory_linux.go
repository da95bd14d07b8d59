package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// idleContainers is how many containers engine-idle-memory keeps idle.
const idleContainers = 50

func engineIdleMemory() Benchmark {
	return Benchmark{
		Name:  "engine-idle-memory",
		Order: 35,
		Unit:  UnitKB,
		Runs:  5,
		Title: fmt.Sprintf("memory per idle container (%d containers)", idleContainers),
		About: fmt.Sprintf(`One run starts %d `+"`ENGINE run -d --network none "+benchImage+" sleep 3600`"+`,
waits until they all run and two more seconds, and measures the memory one
idle container costs: the PSS of its supervisor (/proc/PID/smaps_rollup:
berth-shim for berth, conmon for podman, containerd-shim-runc-v2 for
docker), averaged over the %d, plus the daemon's share: how much the
daemons' PSS grew from before the containers were started, divided by
%d (berth daemon; dockerd and containerd; podman has none; a daemon that
shrank, its collector having run, counts as 0). The
containers are then removed, outside the measurement. The value is in
MB (1000 kB), lower is better; the notes give the two parts and the
supervisors' RSS. A memory figure is steady, so %d runs are measured.
Target (issue 4): berth ≤ 0.5 MB.`, idleContainers, idleContainers, idleContainers, 5),
		Setup: func(env Env) ([]Contender, func(), error) {
			notes := map[string]*memNotes{}
			var mu sync.Mutex
			contenders, cleanup, err := setupEngines(env, func(e engineCLI) func(int) (time.Duration, error) {
				n := &memNotes{}
				mu.Lock()
				notes[e.name] = n
				mu.Unlock()
				return func(seq int) (time.Duration, error) { return idleMemory(env, e, seq, n) }
			})
			for i := range contenders {
				if n, ok := notes[contenders[i].Name]; ok {
					contenders[i].Notes = n.lines
				}
			}
			return contenders, cleanup, err
		},
	}
}

// memNotes keeps the parts of the last measured run.
type memNotes struct {
	supervisorKB, daemonKB, rssKB float64
	runs                          int
}

func (n *memNotes) lines() []string {
	if n.runs == 0 {
		return nil
	}
	return []string{fmt.Sprintf("last run: supervisor %.2f MB PSS (%.2f MB RSS), daemons' share %.2f MB per container",
		n.supervisorKB/1000, n.rssKB/1000, n.daemonKB/1000)}
}

// idleMemory starts idleContainers idle containers and returns the
// memory one costs, in kB (as a Duration).
func idleMemory(env Env, e engineCLI, seq int, notes *memNotes) (time.Duration, error) {
	daemons := daemonPids(e)
	before := sumPSS(daemons)
	names := make([]string, idleContainers)
	for k := range names {
		names[k] = fmt.Sprintf("%s%d-%d", e.namePrefix(), seq, k)
	}
	defer func() {
		if _, err := timeCmd(env.Ctx, 5*time.Minute, e.rm(names...)...); err != nil {
			fmt.Fprintf(env.Log, "   %s: remove: %v\n", e.name, err)
		}
	}()
	// ten at a time: fast, without a start storm
	errs := make([]error, len(names))
	sem := make(chan struct{}, 10)
	var wg sync.WaitGroup
	for k, name := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_, errs[k] = timeCmd(env.Ctx, env.Timeout, e.cmd("run", "-d", "--network", "none", "--name", name, e.image, "sleep", "3600")...)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	ids, err := output(time.Minute, e.cmd(append([]string{"inspect", "--format", "{{.Id}} {{.State.Running}}"}, names...)...)...)
	if err != nil {
		return 0, fmt.Errorf("inspect: %w", err)
	}
	var full []string
	for _, line := range strings.Split(ids, "\n") {
		id, running, _ := strings.Cut(strings.TrimSpace(line), " ")
		if running != "true" {
			return 0, fmt.Errorf("container %s is not running", id)
		}
		full = append(full, id)
	}
	time.Sleep(2 * time.Second) // let the engines settle after the start storm
	sups := supervisorPids(e, full)
	if len(sups) != len(full) {
		return 0, fmt.Errorf("found %d supervisors for %d containers", len(sups), len(full))
	}
	var supPSS, supRSS float64
	for _, p := range sups {
		pss, rss := rollup(p)
		supPSS += pss
		supRSS += rss
	}
	after := sumPSS(daemonPids(e))
	n := float64(len(full))
	// A Go daemon's heap moves with its collections: a daemon that ended
	// smaller than it started is counted as having grown by nothing.
	notes.supervisorKB, notes.rssKB, notes.daemonKB = supPSS/n, supRSS/n, max(after-before, 0)/n
	notes.runs++
	return time.Duration(notes.supervisorKB + notes.daemonKB), nil
}

// daemonPids are the engine's daemons: berth's (from its exec root's pid
// file), dockerd and containerd; podman has none.
func daemonPids(e engineCLI) []int {
	switch e.name {
	case "berth":
		root := os.Getenv("BERTH_EXEC_ROOT")
		if root == "" {
			root = "/run/berth"
		}
		b, err := os.ReadFile(filepath.Join(root, "berth.pid"))
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil {
			return []int{pid}
		}
	case "docker":
		return pidsByComm("dockerd", "containerd")
	}
	return nil
}

// supervisorPids finds each container's supervisor by its command line,
// which names the container's full ID.
func supervisorPids(e engineCLI, ids []string) []int {
	comm := map[string]string{"berth": "berth-shim", "docker": "containerd-shim", "podman": "conmon"}[e.name]
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	var out []int
	for _, pid := range pidsByComm(comm) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		args := strings.Split(string(b), "\x00")
		for _, a := range args {
			if want[a] || (e.name == "berth" && want[filepath.Base(filepath.Dir(a))]) {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

// pidsByComm lists the processes whose comm starts with one of names
// (comm is cut at 15 bytes).
func pidsByComm(names ...string) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, d := range entries {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil {
			continue
		}
		comm := strings.TrimSpace(string(b))
		for _, n := range names {
			if comm == n || (len(n) > 15 && comm == n[:15]) || (len(comm) == 15 && strings.HasPrefix(n, comm)) {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

func sumPSS(pids []int) float64 {
	var t float64
	for _, p := range pids {
		pss, _ := rollup(p)
		t += pss
	}
	return t
}

// rollup returns a process's PSS and RSS in kB.
func rollup(pid int) (pss, rss float64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		v, _ := strconv.ParseFloat(fields[1], 64)
		switch fields[0] {
		case "Pss:":
			pss = v
		case "Rss:":
			rss = v
		}
	}
	return pss, rss
}
