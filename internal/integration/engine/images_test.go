package engine

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestImageScenarios runs the image and layer commands with the berth CLI
// and with the real docker CLI against one berth daemon.
func TestImageScenarios(t *testing.T) {
	e := newEnv(t)
	kinds := []cliKind{berthCLI}
	if _, err := os.Stat(dockerPath); err == nil {
		kinds = append(kinds, dockerCLI)
	}
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			e := *e
			e.t = t
			runImageScenarios(t, &e, kind)
		})
	}
}

// lines splits output into its non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func runImageScenarios(t *testing.T, e *env, k cliKind) {
	name := func(s string) string { return s + "-" + string(k) }
	img := name("img") + ":v1"
	dir := t.TempDir()
	e.must(k, "tag", "busybox", img)

	t.Run("hello", func(t *testing.T) {
		r := e.run(k, "", "run", "--rm", "hello")
		if r.Code != 0 || !strings.HasPrefix(r.Stdout, "\nHello from berth!\n") {
			t.Fatalf("run --rm hello: %s", r)
		}
		if out := e.must(k, "image", "inspect", "--format", "{{.Created}} {{.Config.Cmd}}", "hello"); out != "2024-01-01T00:00:00Z [/hello]" {
			t.Fatalf("hello image: %q", out)
		}
		// The same image on every amd64 machine (go generate and the
		// hello test keep the program; this keeps the image around it).
		if runtime.GOARCH == "amd64" {
			if id := e.must(k, "image", "inspect", "--format", "{{.Id}}", "hello"); id != "sha256:70df6ff79b7f1c3a2bfd4e48010db959ccf7fb9266d3e3a5e04aeeb5c7373f2e" {
				t.Fatalf("hello image ID %s: the image changed (update this test if the program did)", id)
			}
		}
	})
	t.Run("save and load", func(t *testing.T) {
		archive := filepath.Join(dir, "two.tar")
		e.must(k, "save", "-o", archive, img, "busybox")
		e.must(k, "rmi", img)
		if r := e.run(k, "", "image", "inspect", img); r.Code != 1 || !strings.Contains(r.Stderr, "No such image: "+img) {
			t.Fatalf("inspect after rmi: %s", r)
		}
		out := e.must(k, "load", "-i", archive)
		for _, want := range []string{"Loaded image: " + img, "Loaded image: busybox:latest"} {
			if !strings.Contains(out, want) {
				t.Fatalf("load output %q lacks %q", out, want)
			}
		}
		if out := e.must(k, "run", "--rm", img, "echo", "from-loaded"); out != "from-loaded" {
			t.Fatalf("run loaded image: %q", out)
		}
		b, err := os.ReadFile(archive)
		if err != nil {
			t.Fatal(err)
		}
		if r := e.run(k, string(b), "load", "-q"); r.Code != 0 || !strings.Contains(r.Stdout, "Loaded image: "+img) {
			t.Fatalf("load -q from stdin: %s", r)
		}
		if r := e.run(k, "not an archive at all, certainly not a tar", "load"); r.Code != 1 || r.Stderr == "" {
			t.Fatalf("load of garbage: %s", r)
		}
		if r := e.run(k, "", "save", "-o", filepath.Join(dir, "none.tar"), "no-such-image:v9"); r.Code != 1 || !strings.Contains(r.Stderr, "No such image") {
			t.Fatalf("save of a missing image: %s", r)
		}
		if _, err := os.Stat(filepath.Join(dir, "none.tar")); err == nil {
			t.Fatal("a failed save left its output file")
		}
	})

	t.Run("images", func(t *testing.T) {
		id := e.must(k, "image", "inspect", "--format", "{{.Id}}", img)
		if !strings.HasPrefix(id, "sha256:") {
			t.Fatalf("image id %q", id)
		}
		if out := e.must(k, "images", "--no-trunc", "-q", "--filter", "reference="+name("img")+"*"); out != id {
			t.Fatalf("images -q --filter reference: %q, want %q", out, id)
		}
		if out := e.must(k, "images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", name("img")); out != img+" "+id[7:19] {
			t.Fatalf("images REPO: %q", out)
		}
		table := e.must(k, "image", "ls")
		if !strings.HasPrefix(table, "REPOSITORY") || !strings.Contains(table, name("img")) {
			t.Fatalf("image ls: %q", table)
		}
		if out := e.must(k, "images", "--digests"); !strings.Contains(out, "DIGEST") {
			t.Fatalf("images --digests: %q", out)
		}
		for _, l := range lines(e.must(k, "images", "--format", "json")) {
			var row map[string]any
			if err := json.Unmarshal([]byte(l), &row); err != nil || row["Repository"] == nil || row["ID"] == nil {
				t.Fatalf("images --format json line %q: %v", l, err)
			}
		}
		if out := e.must(k, "images", "--filter", "dangling=true", "-q"); strings.Contains(out, id[7:19]) {
			t.Fatalf("a tagged image listed as dangling: %q", out)
		}
		if r := e.run(k, "", "images", "--filter", "nonsense=1"); r.Code == 0 {
			t.Fatalf("invalid filter accepted: %s", r)
		}
		// The generic inspect falls back to images.
		if out := e.must(k, "inspect", "--format", "{{.Id}}", img); out != id {
			t.Fatalf("inspect of an image: %q", out)
		}
		if r := e.run(k, "", "inspect", "no-such-thing-at-all"); r.Code != 1 || !strings.Contains(r.Stderr, "No such object") {
			t.Fatalf("inspect of nothing: %s", r)
		}
	})

	t.Run("history and tag", func(t *testing.T) {
		out := e.must(k, "history", img)
		if !strings.HasPrefix(out, "IMAGE") || !strings.Contains(out, "busybox") {
			t.Fatalf("history: %q", out)
		}
		if out := e.must(k, "history", "-H=false", "--format", "{{.Size}}", img); strings.ContainsAny(out, "kMB") {
			t.Fatalf("history -H=false shows human sizes: %q", out)
		}
		if got := lines(e.must(k, "history", "-q", "--no-trunc", img)); len(got) == 0 || !strings.HasPrefix(got[0], "sha256:") {
			t.Fatalf("history -q --no-trunc: %q", got)
		}
		e.must(k, "tag", img, name("img")+":v2")
		if out := e.must(k, "rmi", name("img")+":v2"); out != "Untagged: "+name("img")+":v2" {
			t.Fatalf("rmi of a second tag: %q", out)
		}
		if r := e.run(k, "", "tag", "no-such-image:v9", "x:y"); r.Code != 1 || !strings.Contains(r.Stderr, "No such image") {
			t.Fatalf("tag of a missing image: %s", r)
		}
	})

	t.Run("commit diff export import", func(t *testing.T) {
		c := name("changed")
		e.must(k, "run", "--name", c, img, "sh", "-c", "echo x > /tmp/f; rm /etc/group; mkdir /made")
		diff := lines(e.must(k, "diff", c))
		for _, want := range []string{"C /tmp", "A /tmp/f", "D /etc/group", "A /made", "C /etc"} {
			if !contains(diff, want) {
				t.Fatalf("diff %q lacks %q", diff, want)
			}
		}
		for _, l := range diff {
			if strings.Contains(l, "/etc/hostname") || strings.Contains(l, "/etc/resolv.conf") || strings.Contains(l, "/etc/hosts") {
				t.Fatalf("diff shows the engine's mount points: %q", diff)
			}
		}
		com := name("committed") + ":v1"
		id := e.must(k, "commit", "-a", "Ada", "-m", "a message", "-c", "ENV K=V", "-c", "LABEL l=v", c, com)
		if !strings.HasPrefix(id, "sha256:") {
			t.Fatalf("commit printed %q", id)
		}
		if out := e.must(k, "run", "--rm", com, "sh", "-c", "cat /tmp/f; echo $K; test -e /etc/group || echo gone; test -d /made && echo made"); out != "x\nV\ngone\nmade" {
			t.Fatalf("run committed image: %q", out)
		}
		if out := e.must(k, "image", "inspect", "--format", "{{.Author}}|{{.Comment}}|{{index .Config.Labels \"l\"}}", com); out != "Ada|a message|v" {
			t.Fatalf("committed image: %q", out)
		}
		if out := e.must(k, "history", "--format", "{{.Comment}}", com); lines(out)[0] != "a message" {
			t.Fatalf("history of the commit: %q", out)
		}
		exported := filepath.Join(dir, "exported.tar")
		e.must(k, "export", "-o", exported, c)
		imp := name("imported") + ":v1"
		iid := e.must(k, "import", "-c", `CMD ["cat", "/tmp/f"]`, "-m", "imported here", exported, imp)
		if !strings.HasPrefix(iid, "sha256:") {
			t.Fatalf("import printed %q", iid)
		}
		if out := e.must(k, "run", "--rm", imp); out != "x" {
			t.Fatalf("run imported image: %q", out)
		}
		if out := e.must(k, "image", "inspect", "--format", "{{.Comment}} {{len .RootFS.Layers}}", imp); out != "imported here 1" {
			t.Fatalf("imported image: %q", out)
		}
		b, err := os.ReadFile(exported)
		if err != nil {
			t.Fatal(err)
		}
		if r := e.run(k, string(b), "import", "-", name("stdin")+":v1"); r.Code != 0 || !strings.HasPrefix(r.Stdout, "sha256:") {
			t.Fatalf("import from stdin: %s", r)
		}
		e.must(k, "rm", c)
		e.must(k, "rmi", imp, name("stdin")+":v1")

		// A running container is paused while its changes are read, and
		// runs on afterwards.
		live := name("live")
		e.must(k, "run", "-d", "--name", live, img, "sh", "-c", "echo live > /live; sleep 100")
		eventually(t, "the running container's file", func() bool { return e.run(k, "", "exec", live, "test", "-f", "/live").Code == 0 })
		liveImg := name("live") + ":v1"
		e.must(k, "commit", live, liveImg)
		if out := e.must(k, "inspect", "--format", "{{.State.Status}}", live); out != "running" {
			t.Fatalf("container after commit: %q", out)
		}
		if out := e.must(k, "run", "--rm", liveImg, "cat", "/live"); out != "live" {
			t.Fatalf("image committed from a running container: %q", out)
		}
		e.must(k, "rm", "-f", live)
		e.must(k, "rmi", liveImg)
	})

	t.Run("rmi of an image in use", func(t *testing.T) {
		com := name("committed") + ":v1"
		id := e.must(k, "image", "inspect", "--format", "{{.Id}}", com)
		u := name("user")
		cid := e.must(k, "create", "--name", u, com, "cat", "/tmp/f")
		r := e.run(k, "", "rmi", com)
		want := `conflict: unable to remove repository reference "` + com + `" (must force) - container ` + cid[:12] + ` is using its referenced image ` + id[7:19]
		if r.Code != 1 || !strings.Contains(r.Stderr, want) {
			t.Fatalf("rmi of an image a container uses: %s, want %q", r, want)
		}
		r = e.run(k, "", "rmi", id[7:19])
		if r.Code != 1 || !strings.Contains(r.Stderr, "conflict: unable to delete "+id[7:19]+" (must be forced) - image is being used by stopped container "+cid[:12]) {
			t.Fatalf("rmi by ID: %s", r)
		}
		// Forced, a stopped container does not keep the image (Docker's
		// rule), but the container keeps working from its own layers.
		if got := lines(e.must(k, "rmi", "-f", com)); len(got) < 2 || got[0] != "Untagged: "+com || got[1] != "Deleted: "+id {
			t.Fatalf("rmi -f: %q", got)
		}
		if out := e.must(k, "images", "-q", "--no-trunc"); strings.Contains(out, id) {
			t.Fatalf("force-removed image still listed: %q", out)
		}
		if out := e.must(k, "start", "-a", u); out != "x" {
			t.Fatalf("container of a removed image: %q", out)
		}
		e.must(k, "rm", u)

		// A running container keeps its image: forcing only untags it.
		src := name("src")
		e.must(k, "run", "--name", src, img, "sh", "-c", "echo 1 > /one")
		run := name("run") + ":v1"
		id2 := e.must(k, "commit", src, run)
		e.must(k, "rm", src)
		r2 := name("running")
		e.must(k, "run", "-d", "--name", r2, run, "sleep", "100")
		r = e.run(k, "", "rmi", "-f", id2[7:19])
		if r.Code != 1 || !strings.Contains(r.Stderr, "conflict: unable to delete "+id2[7:19]+" (cannot be forced) - image is being used by running container") {
			t.Fatalf("rmi -f by ID of an image a running container uses: %s", r)
		}
		if out := e.must(k, "rmi", "-f", run); out != "Untagged: "+run {
			t.Fatalf("rmi -f of an image a running container uses: %q", out)
		}
		if out := e.must(k, "images", "-q", "--filter", "dangling=true"); !strings.Contains(out, id2[7:19]) {
			t.Fatalf("the untagged image of the running container is not dangling: %q", out)
		}
		if out := e.must(k, "exec", r2, "cat", "/one"); out != "1" {
			t.Fatalf("exec in the container: %q", out)
		}
		e.must(k, "rm", "-f", r2)
		out := e.must(k, "image", "prune", "-f")
		if !strings.Contains(out, "deleted: "+id2) || !strings.Contains(out, "Total reclaimed space:") {
			t.Fatalf("image prune: %q", out)
		}
		if out := e.must(k, "images", "-q", "--no-trunc", "-a"); strings.Contains(out, id2) {
			t.Fatalf("pruned image still listed: %q", out)
		}
	})

	t.Run("system df", func(t *testing.T) {
		c := name("df")
		e.must(k, "run", "--name", c, img, "sh", "-c", "head -c 300000 /dev/zero > /big")
		out := e.must(k, "system", "df")
		if !strings.HasPrefix(out, "TYPE") || !strings.Contains(out, "Images") || !strings.Contains(out, "Build Cache") {
			t.Fatalf("system df: %q", out)
		}
		verbose := e.must(k, "system", "df", "-v")
		for _, want := range []string{"Images space usage:", "Containers space usage:", c, "Local Volumes space usage:"} {
			if !strings.Contains(verbose, want) {
				t.Fatalf("system df -v lacks %q: %q", want, verbose)
			}
		}
		size := e.must(k, "system", "df", "--format", "{{.Type}} {{.Size}}")
		if !strings.Contains(size, "Containers 3") { // 300 kB and the log
			t.Fatalf("container size not counted: %q", size)
		}
		e.must(k, "rm", c)
	})
	e.must(k, "rmi", img)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
