package build

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/integration/harness"
)

// runningSteps returns the pids of the build's step containers that run.
func runningSteps(t *testing.T, d *harness.Daemon) []int {
	t.Helper()
	root := filepath.Join(d.ExecRoot, "build", "runtime")
	entries, _ := os.ReadDir(root)
	var pids []int
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(root, e.Name(), "state.json"))
		if err != nil {
			continue
		}
		var st struct {
			InitPid int `json:"init_pid"`
			Pid     int `json:"pid"`
		}
		json.Unmarshal(b, &st)
		pid := st.InitPid
		if pid == 0 {
			pid = st.Pid
		}
		if pid > 0 && alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z'
}

// startSlowBuild starts `berth build` of a RUN that sleeps and waits until
// its step container runs.
func startSlowBuild(t *testing.T, d *harness.Daemon) *exec.Cmd {
	t.Helper()
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nCOPY f /f\nRUN touch /started && sleep 600\n", "f": "x"})
	cmd := d.BerthCmd("build", "--no-cache", dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	harness.Eventually(t, "the RUN step to start", func() bool { return len(runningSteps(t, d)) > 0 })
	return cmd
}

// leftovers lists what an interrupted build must not leave behind.
func leftovers(t *testing.T, d *harness.Daemon) []string {
	t.Helper()
	var out []string
	if pids := runningSteps(t, d); len(pids) > 0 {
		out = append(out, "step processes")
	}
	if m := harness.MountsUnder(filepath.Join(d.DataRoot, "build")); len(m) > 0 {
		out = append(out, "mounts "+strings.Join(m, " "))
	}
	if w, _ := os.ReadDir(filepath.Join(d.DataRoot, "build", "work")); len(w) > 0 {
		out = append(out, "work dirs")
	}
	for _, n := range snapshotNames(t, d) {
		if strings.HasPrefix(n, "build-") {
			out = append(out, "snapshot "+n)
		}
	}
	return out
}

// TestInterruptedBuilds: a build whose client goes away, and a daemon
// killed during a RUN, leave no process, mount, work dir or snapshot
// behind (the latter once the daemon is back), and builds work after.
func TestInterruptedBuilds(t *testing.T) {
	d := harness.Start(t)
	cli := startSlowBuild(t, d)
	cli.Process.Kill()
	cli.Wait()
	harness.Eventually(t, "the cancelled build to clean up", func() bool { return len(leftovers(t, d)) == 0 })

	startSlowBuild(t, d)
	steps := runningSteps(t, d)
	d.Kill()
	d.StartProcess()
	if l := leftovers(t, d); len(l) > 0 {
		t.Errorf("after a daemon restart: %v", l)
	}
	for _, pid := range steps {
		harness.Eventually(t, "the step process of the killed daemon to end", func() bool { return !alive(pid) })
	}
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nCOPY f /f\nRUN cat /f\n", "f": "x"})
	build(t, d, dir)
}

// TestConcurrentBuilds: builds of one Dockerfile at the same time make
// the same layers; each keeps the one committed first and all succeed.
func TestConcurrentBuilds(t *testing.T) {
	d := harness.Start(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile": "FROM busybox\nCOPY f /f\nRUN cat /f > /g\nFROM busybox\nCOPY --from=0 /g /g\nCMD [\"cat\", \"/g\"]\n",
		"f":          "same for all\n",
	})
	const n = 4
	results := make(chan harness.Result, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			results <- d.Berth("", "", nil, "build", "--no-cache", "-t", "conc:"+strconv.Itoa(i), dir)
		}(i)
	}
	for i := 0; i < n; i++ {
		if r := <-results; r.Code != 0 {
			t.Errorf("build: %s", r)
		}
	}
	for i := 0; i < n; i++ {
		if out := d.Must("run", "--rm", "conc:"+strconv.Itoa(i)); out != "same for all" {
			t.Errorf("conc:%d: %q", i, out)
		}
	}
	if l := leftovers(t, d); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
}

// TestContextFromStdin: a Dockerfile or a tar context on stdin.
func TestContextFromStdin(t *testing.T) {
	d := harness.Start(t)
	dir := writeContext(t, map[string]string{"data.txt": "from the directory\n"})
	r := d.Berth("", "FROM busybox\nCOPY data.txt /\nCMD [\"cat\", \"/data.txt\"]\n", nil, "build", "-f", "-", "-t", "stdin-df", dir)
	if r.Code != 0 {
		t.Fatalf("-f -: %s", r)
	}
	if out := d.Must("run", "--rm", "stdin-df"); out != "from the directory" {
		t.Errorf("-f -: %q", out)
	}
	r = d.Berth("", "FROM busybox\nRUN echo lone > /lone\nCMD [\"cat\", \"/lone\"]\n", nil, "build", "-t", "stdin-lone", "-")
	if r.Code != 0 {
		t.Fatalf("Dockerfile on stdin: %s", r)
	}
	if out := d.Must("run", "--rm", "stdin-lone"); out != "lone" {
		t.Errorf("Dockerfile on stdin: %q", out)
	}
	// A directory sent through the API client's tar stream instead of
	// berth's own upload: the same image.
	plain := d.Berth("", "FROM busybox\nCOPY data.txt /\nCMD [\"cat\", \"/data.txt\"]\n", []string{"BERTH_BUILD_PLAIN_UPLOAD=1"}, "build", "-q", "-f", "-", dir)
	own := d.Berth("", "FROM busybox\nCOPY data.txt /\nCMD [\"cat\", \"/data.txt\"]\n", nil, "build", "-q", "-f", "-", dir)
	if plain.Code != 0 || own.Code != 0 || plain.Stdout != own.Stdout {
		t.Errorf("plain upload %s, own upload %s", plain, own)
	}
	tarCtx := tarGz(t, map[string]string{"Dockerfile": "FROM busybox\nCOPY x /x\nCMD [\"cat\", \"/x\"]\n", "x": "from a tar\n"})
	r = d.Berth("", tarCtx, nil, "build", "-t", "stdin-tar", "-")
	if r.Code != 0 {
		t.Fatalf("tar on stdin: %s", r)
	}
	if out := d.Must("run", "--rm", "stdin-tar"); out != "from a tar" {
		t.Errorf("tar on stdin: %q", out)
	}
}
