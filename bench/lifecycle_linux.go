package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/hugetext"
	"github.com/berth-project/berth/internal/testbundle"
)

func runtimeLifecycle() Benchmark {
	return Benchmark{
		Name:  "runtime-lifecycle",
		Order: 10,
		Title: "create+start+wait+delete of a busybox bundle running /bin/true",
		About: `One run is ` + "`RUNTIME --root STATE run --bundle BUNDLE ID`" + ` (berth:
` + "`berth runtime --root STATE run …`" + `): create, start, wait for /bin/true to
exit, delete. All runtimes use the same bundle: a busybox-static root
filesystem (internal/testbundle) and the config.json of ` + "`runc spec`" + ` with
terminal false and args ["/bin/true"]. Each runtime has its own state
directory and every run a fresh container ID. Target (issue 2): berth's
median at most crun's. Every berth run starts the whole berth binary, with
the package initialization of the image store, the CLI and the builder.
berth keeps its binary in the page cache in 2 MB pages (package hugetext):
the first berth command after a reboot, an install or a link puts it there
before it exits, and later ones map its text with a few huge-page faults
instead of ~160 small ones. The warm-up run does that here; the note under
the table measures that first run. crun runs right after runc in each round: a recent cgroup migration (runc's, or
crun's own in the round before) spares crun the RCU grace period its
migration otherwise waits for; berth migrates nothing, so in an order
where berth runs just before crun, crun would wait more often.
docs/ARCHITECTURE.md ("Where the time of a container start goes") has the
breakdown and figures.`,
		Setup: setupLifecycle,
	}
}

// runtimeCLI is how a runtime with runc's command line is invoked.
type runtimeCLI struct {
	name string
	argv []string // binary, plus "runtime" for berth
	root string   // --root state directory
}

func (r runtimeCLI) cmd(args ...string) []string {
	argv := append(append([]string{}, r.argv...), "--root", r.root)
	return append(argv, args...)
}

func setupLifecycle(env Env) ([]Contender, func(), error) {
	tmp, err := os.MkdirTemp(env.TmpDir, "berth-bench-lifecycle-")
	if err != nil {
		return nil, nil, fmt.Errorf("temp dir: %w", err)
	}
	var runtimes []runtimeCLI
	cleanup := func() {
		for _, r := range runtimes {
			removeLeftovers(env, r)
		}
		if err := os.RemoveAll(tmp); err != nil {
			fmt.Fprintf(env.Log, "   cleanup: %v\n", err)
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, cleanup, fmt.Errorf("chmod %s: %w", tmp, err)
	}
	bundle := filepath.Join(tmp, "bundle")
	if err := makeTrueBundle(bundle); err != nil {
		return nil, cleanup, err
	}

	var contenders []Contender
	add := func(name string, peer bool, argv []string, unavailable string) {
		c := Contender{Name: name, Peer: peer, Unavailable: unavailable}
		if unavailable == "" {
			r := runtimeCLI{name: name, argv: argv, root: filepath.Join(tmp, "state-"+name)}
			runtimes = append(runtimes, r)
			c.Version = runtimeVersion(env, argv)
			c.Run = func(seq int) (time.Duration, error) {
				id := fmt.Sprintf("bench-%s-%d-%d", name, os.Getpid(), seq)
				return timeCmd(env.Ctx, env.Timeout, r.cmd("run", "--bundle", bundle, id)...)
			}
		}
		contenders = append(contenders, c)
	}
	for _, peer := range []string{"runc", "crun"} {
		path, err := exec.LookPath(peer)
		if err != nil {
			add(peer, true, nil, peer+" is not installed (hack/install-peers.sh)")
			continue
		}
		add(peer, true, []string{path}, "")
	}
	missing := berthMissing(env.Berth)
	add("berth", false, []string{env.Berth, "runtime"}, missing)
	if missing == "" {
		// Measured now: the report is written once tmp is gone.
		notes := firstRuns(env, tmp, bundle)
		contenders[len(contenders)-1].Notes = func() []string { return notes }
	}
	return contenders, cleanup, nil
}

// firstRuns measures berth's first run after a reboot: a fresh copy of
// the binary, written out and dropped from the page cache, so that the
// run reads it from disk by page faults, in small pages, and then puts it
// in huge pages before it exits (package hugetext).
func firstRuns(env Env, tmp, bundle string) []string {
	const n = 5
	var first, second []time.Duration
	for i := 0; i < n; i++ {
		bin := filepath.Join(tmp, fmt.Sprintf("berth-first-%d", i))
		if err := copyExecutable(env.Berth, bin); err != nil {
			return []string{"first run: " + err.Error()}
		}
		if err := evict(bin); err != nil {
			return []string{"first run: " + err.Error()}
		}
		r := runtimeCLI{name: "berth-first", argv: []string{bin, "runtime"}, root: filepath.Join(tmp, "state-berth-first")}
		for j, out := range []*[]time.Duration{&first, &second} {
			id := fmt.Sprintf("bench-first-%d-%d-%d", os.Getpid(), i, j)
			d, err := timeCmd(env.Ctx, env.Timeout, r.cmd("run", "--bundle", bundle, id)...)
			if err != nil {
				return []string{"first run: " + err.Error()}
			}
			*out = append(*out, d)
		}
		removeMarker(bin)
		os.Remove(bin)
	}
	return []string{fmt.Sprintf("berth's first run after a reboot (a fresh copy of the binary, dropped from the page cache; "+
		"it puts the binary in huge pages before it exits): median %s of %d; the run after it: %s",
		formatDuration(Summarize(first).Median), n, formatDuration(Summarize(second).Median))}
}

// evict writes path out and drops it from the page cache.
func evict(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return fmt.Errorf("fdatasync %s: %w", path, err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		return fmt.Errorf("fadvise %s: %w", path, err)
	}
	return nil
}

// removeMarker removes the record package hugetext keeps of a binary.
func removeMarker(path string) {
	if m, err := hugetext.MarkerFile(path); err == nil {
		os.Remove(m)
	}
}

// copyExecutable copies the file src to a new executable dst with read
// and write system calls.
func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}

// makeTrueBundle makes an OCI bundle in dir whose process runs /bin/true,
// from `runc spec` (or `crun spec`) with terminal off.
func makeTrueBundle(dir string) error {
	if err := testbundle.Rootfs(filepath.Join(dir, "rootfs")); err != nil {
		return fmt.Errorf("bundle rootfs: %w", err)
	}
	var specErr error
	for _, rt := range []string{"runc", "crun"} {
		if _, err := exec.LookPath(rt); err != nil {
			continue
		}
		if specErr = exec.Command(rt, "spec", "--bundle", dir).Run(); specErr == nil {
			break
		}
		// crun spec has no --bundle: it writes into the working directory.
		cmd := exec.Command(rt, "spec")
		cmd.Dir = dir
		if specErr = cmd.Run(); specErr == nil {
			break
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return fmt.Errorf("no config.json from `runc spec` (last error: %v): %w", specErr, err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		return fmt.Errorf("parse config.json from runc spec: %w", err)
	}
	if spec.Process == nil {
		return fmt.Errorf("config.json from runc spec has no process")
	}
	spec.Process.Terminal = false
	spec.Process.Args = []string{"/bin/true"}
	if err := testbundle.WriteSpec(dir, &spec); err != nil {
		return fmt.Errorf("write config.json: %w", err)
	}
	return nil
}

// runtimeVersion returns the version of a runtime from its --version output
// ("runc version 1.1.5" → "1.1.5").
func runtimeVersion(env Env, argv []string) string {
	out, err := output(30*time.Second, append(append([]string{}, argv...), "--version")...)
	if err != nil {
		return ""
	}
	return versionOf(out)
}

// versionOf extracts the version from a --version output's first line
// ("crun version 1.8.1" → "1.8.1").
func versionOf(out string) string {
	line := firstLine(out)
	if _, v, ok := strings.Cut(line, "version "); ok {
		return strings.TrimSpace(v)
	}
	return line
}

// removeLeftovers deletes containers a runtime left in its state directory
// (a run that failed half-way) and reports them.
func removeLeftovers(env Env, r runtimeCLI) {
	if _, err := os.Stat(r.root); err != nil {
		return
	}
	out, err := output(30*time.Second, r.cmd("list", "-q")...)
	if err != nil {
		fmt.Fprintf(env.Log, "   %s: list leftovers: %v\n", r.name, err)
		return
	}
	for _, id := range strings.Fields(out) {
		fmt.Fprintf(env.Log, "   %s: left container %s behind; deleting it\n", r.name, id)
		if _, err := timeCmd(context.Background(), 30*time.Second, r.cmd("delete", "--force", id)...); err != nil {
			fmt.Fprintf(env.Log, "   %s: %v\n", r.name, err)
		}
	}
}

// berthMissing says why berth cannot be measured, or "" if its binary exists.
func berthMissing(path string) string {
	if path == "" {
		return "no -berth binary given"
	}
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Sprintf("%s does not exist (make build)", path)
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Sprintf("%s is not an executable file", path)
	}
	return ""
}
