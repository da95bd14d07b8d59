package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRuntimeLifecyclePeers runs the runtime-lifecycle benchmark for real
// against the installed peers, twice each, and checks that every peer
// completes and nothing is left behind. It asserts no timings.
func TestRuntimeLifecyclePeers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	// A peer counts when it runs a container here at all: crun 1.8
	// refuses a hybrid cgroup host without a v1 hugetlb hierarchy (as
	// after a reboot), whatever the benchmark does.
	probe := filepath.Join(t.TempDir(), "bundle")
	if err := makeTrueBundle(probe); err != nil {
		t.Fatal(err)
	}
	var have []string
	for _, rt := range []string{"runc", "crun"} {
		if _, err := exec.LookPath(rt); err != nil {
			continue
		}
		id := fmt.Sprintf("bench-probe-%s-%d", rt, os.Getpid())
		root := filepath.Join(t.TempDir(), "state")
		if out, err := exec.Command(rt, "--root", root, "run", "--bundle", probe, id).CombinedOutput(); err != nil {
			exec.Command(rt, "--root", root, "delete", "--force", id).Run()
			t.Logf("%s cannot run a container here, not measured: %v: %s", rt, err, out)
			continue
		}
		have = append(have, rt)
	}
	if len(have) == 0 {
		t.Skip("neither runc nor crun can run a container here (hack/install-peers.sh)")
	}
	env := Env{Ctx: context.Background(), Berth: "", Timeout: time.Minute, Log: io.Discard, TmpDir: t.TempDir()}
	cs, cleanup, err := setupLifecycle(env)
	if err != nil {
		if cleanup != nil {
			cleanup()
		}
		t.Fatal(err)
	}
	res := Measure(context.Background(), cs, 2, 0, 1, io.Discard)
	cleanup()
	for _, r := range res {
		switch {
		case r.Name == "berth":
			if r.Unavailable == "" {
				t.Errorf("berth without a binary was measured")
			}
		case strings.Contains(strings.Join(have, " "), r.Name):
			if !r.OK(2) {
				t.Errorf("%s: %d samples, err %v", r.Name, len(r.Samples), r.Err)
			}
		}
	}
	left, err := os.ReadDir(env.TmpDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("left behind in the temp dir: %s", e.Name())
	}
}
