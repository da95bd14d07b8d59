package build

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/integration/harness"
)

const cacheDockerfile = `FROM busybox AS deps
COPY deps.txt /deps.txt
RUN cp /deps.txt /deps.out

FROM busybox
RUN echo first > /first
COPY --from=deps /deps.out /deps.out
COPY a.txt /a.txt
RUN cat /a.txt > /a.out
COPY b.txt /b.txt
RUN cat /b.txt > /b.out
CMD ["cat", "/a.out", "/b.out", "/deps.out"]
`

// stepStatus returns, per step instruction, whether it was CACHED.
func stepStatus(out string) map[string]string {
	st := map[string]string{}
	cur := ""
	for _, line := range strings.Split(out, "\n") {
		if m := regexp.MustCompile(`^Step \d+/\d+ : (.*)$`).FindStringSubmatch(line); m != nil {
			cur = m[1]
			continue
		}
		switch {
		case strings.HasPrefix(line, " ---> CACHED"):
			st[cur] = "cached"
		case strings.HasPrefix(line, " ---> Cache miss: "):
			st[cur] = "miss: " + strings.TrimPrefix(line, " ---> Cache miss: ")
		}
	}
	return st
}

// TestCacheSurvivesRestartAndReusesUnchangedSteps: a no-change rebuild
// after a daemon restart is all cached and gives the same image; changing
// one copied file redoes only the steps after its COPY, and says why.
func TestCacheSurvivesRestartAndReusesUnchangedSteps(t *testing.T) {
	d := harness.Start(t)
	dir := writeContext(t, map[string]string{"Dockerfile": cacheDockerfile, "deps.txt": "deps\n", "a.txt": "a\n", "b.txt": "b\n"})
	first := build(t, d, dir, "-t", "cached")
	id1 := d.Must("build", "-q", dir)

	d.Stop()
	d.StartProcess()

	r := build(t, d, dir, "-t", "cached")
	st := stepStatus(r.Stdout)
	for step, s := range st {
		if s != "cached" {
			t.Errorf("after restart, %q: %s", step, s)
		}
	}
	if len(st) != 8 { // RUN and COPY steps of both stages
		t.Errorf("want 8 layer steps, saw %d:\n%s", len(st), r.Stdout)
	}
	if id2 := d.Must("build", "-q", dir); id2 != id1 {
		t.Errorf("no-change rebuild changed the image ID: %s -> %s", id1, id2)
	}
	_ = first

	// New content for b.txt (its mtime alone would change nothing).
	os.WriteFile(filepath.Join(dir, "b.txt"), []byte("b changed\n"), 0o644)
	r = build(t, d, dir, "-t", "cached")
	st = stepStatus(r.Stdout)
	want := map[string]string{
		"COPY deps.txt /deps.txt":              "cached",
		"RUN cp /deps.txt /deps.out":           "cached",
		"RUN echo first > /first":              "cached",
		"COPY --from=deps /deps.out /deps.out": "cached",
		"COPY a.txt /a.txt":                    "cached",
		"RUN cat /a.txt > /a.out":              "cached",
		"COPY b.txt /b.txt":                    "miss: source files changed: b.txt",
		"RUN cat /b.txt > /b.out":              "miss: a previous step was rebuilt",
	}
	for step, w := range want {
		if st[step] != w {
			t.Errorf("after changing b.txt, %q: %q, want %q\n%s", step, st[step], w, r.Stdout)
		}
	}
	if out := d.Must("run", "--rm", "cached"); out != "a\nb changed\ndeps" {
		t.Errorf("run: %q", out)
	}
	// Touching a file without changing it keeps the cache.
	os.Chtimes(filepath.Join(dir, "a.txt"), fixedTime, fixedTime)
	r = build(t, d, dir)
	for step, s := range stepStatus(r.Stdout) {
		if s != "cached" {
			t.Errorf("after touching a.txt, %q: %s", step, s)
		}
	}

	// --no-cache really runs every step again.
	r = build(t, d, dir, "--no-cache")
	for step, s := range stepStatus(r.Stdout) {
		if s != "miss: --no-cache" {
			t.Errorf("--no-cache, %q: %s", step, s)
		}
	}

	// system df counts the build cache.
	df := d.Must("system", "df")
	if m := regexp.MustCompile(`(?m)^Build Cache\s+(\d+)`).FindStringSubmatch(df); m == nil || m[1] == "0" {
		t.Errorf("system df shows no build cache:\n%s", df)
	}

	// builder prune empties the cache: the next build misses everywhere.
	if r := d.Berth("", "", nil, "rmi", "-f", "cached"); r.Code != 0 {
		t.Fatalf("rmi: %s", r)
	}
	out := d.Must("builder", "prune", "-af")
	if !strings.Contains(out, "Total reclaimed space:") {
		t.Errorf("prune output: %q", out)
	}
	r = build(t, d, dir)
	for step, s := range stepStatus(r.Stdout) {
		if s == "cached" {
			t.Errorf("after prune, %q was cached", step)
		}
	}
}

var fixedTime = time.Unix(1700000000, 0)
