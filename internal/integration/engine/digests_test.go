package engine

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/integration/harness"
)

var (
	pushDigestRe      = regexp.MustCompile(`: digest: (sha256:[0-9a-f]{64}) size: `)
	doubleNoSuchImage = regexp.MustCompile(`no such image: \S+: No such image: `)
	timeRe            = regexp.MustCompile(`\d{4}-\d\d-\d\dT[0-9:.]+Z`)
)

// TestImageDigests: an image pulled by digest has no tag and a RepoDigest
// (<none> in images, dangling for image prune and the dangling filter);
// a pull by tag or a push records the digest reference too; rmi by digest
// reference, run by digest, and save/load (which keep tags, never
// digests), with berth's CLI and the real docker CLI against berthd.
func TestImageDigests(t *testing.T) {
	e := newEnv(t)
	reg := startBerthRegistry(t)
	kinds := []cliKind{berthCLI}
	if _, err := os.Stat(dockerPath); err == nil {
		kinds = append(kinds, dockerCLI)
	}
	for _, k := range kinds {
		t.Run(string(k), func(t *testing.T) { runDigestScenario(t, e.with(t), k, reg.host+"/dg-"+string(k)+"/app") })
	}
}

func runDigestScenario(t *testing.T, e *env, k cliKind, repo string) {
	// Names of other lengths give other images (the seed of their files).
	src := "dgsrc-" + string(k) + "/" + randHex(4) + ":v1"
	e.loadTestImage(src, 1)
	ref := repo + ":v1"
	e.must(k, "tag", src, ref)
	m := pushDigestRe.FindStringSubmatch(e.must(k, "push", ref))
	if m == nil {
		t.Fatal("push printed no digest")
	}
	dref := repo + "@" + m[1]
	id := e.must(k, "image", "inspect", "--format", "{{.Id}}", ref)
	names := func(ref string) string {
		t.Helper()
		return e.must(k, "image", "inspect", "--format", "{{.RepoTags}} {{.RepoDigests}}", ref)
	}
	rows := func(args ...string) string {
		t.Helper()
		return e.must(k, append([]string{"images", "--format", "{{.Repository}}|{{.Tag}}|{{.Digest}}"}, args...)...)
	}
	// A push records the digest reference (Docker's RepoDigests).
	if got := names(ref); got != "["+ref+" "+src+"] ["+dref+"]" {
		t.Fatalf("after push: %s", got)
	}
	if out := e.must(k, "rmi", ref); out != "Untagged: "+ref+"\nUntagged: "+dref {
		t.Fatalf("rmi of the last tag of a repository with a digest: %q", out)
	}
	if out := e.must(k, "rmi", src); !strings.Contains(out, "Deleted: "+id) {
		t.Fatalf("rmi %s: %q", src, out)
	}

	// Pulled by digest: no tag, the digest reference.
	out := e.must(k, "pull", dref)
	if !strings.HasSuffix(out, "Status: Downloaded newer image for "+dref+"\n"+dref) {
		t.Fatalf("pull by digest: %q", out)
	}
	if got := names(dref); got != "[] ["+dref+"]" {
		t.Fatalf("inspect after pull by digest: %s", got)
	}
	if got := rows(repo); got != repo+"|<none>|" {
		t.Fatalf("images: %q", got)
	}
	if got := rows("--digests", repo); got != repo+"|<none>|"+m[1] {
		t.Fatalf("images --digests: %q", got)
	}
	for _, f := range []string{"dangling=true", "dangling=false"} {
		if out := e.must(k, "images", "-q", "--no-trunc", "--filter", f); !strings.Contains(out, id) {
			t.Fatalf("images --filter %s does not list the image pulled by digest: %q", f, out)
		}
	}
	if out := e.must(k, "run", "--rm", "--network", "none", dref, "sh", "-c", "ls /data | wc -l"); out != "1" {
		t.Fatalf("run by digest: %q", out)
	}
	ctr := "dg-" + randHex(4)
	e.must(k, "create", "--name", ctr, dref, "true")
	if out := e.must(k, "ps", "-a", "--filter", "name="+ctr, "--format", "{{.Image}}"); out != repo {
		t.Fatalf("ps shows the image as %q", out)
	}
	if out := e.must(k, "ps", "-a", "--no-trunc", "--filter", "name="+ctr, "--format", "{{.Image}}"); out != dref {
		t.Fatalf("ps --no-trunc shows the image as %q", out)
	}
	r := e.run(k, "", "rmi", dref)
	if r.Code != 1 || !strings.Contains(r.Stderr, `conflict: unable to remove repository reference "`+dref+`" (must force) - container`) {
		t.Fatalf("rmi by digest of an image a container uses: %s", r)
	}
	if out := e.must(k, "image", "prune", "-f"); strings.Contains(out, id) {
		t.Fatalf("prune removed an image a container uses: %q", out)
	}
	e.must(k, "rm", ctr)
	// Untagged, so image prune (without -a) removes it, as Docker does.
	out = e.must(k, "image", "prune", "-f")
	if !strings.Contains(out, "untagged: "+dref+"\ndeleted: "+id) {
		t.Fatalf("image prune: %q", out)
	}
	if r := e.run(k, "", "image", "inspect", dref); r.Code != 1 || !strings.Contains(r.Stderr, "No such image") {
		t.Fatalf("inspect of the pruned image: %s", r)
	}

	// Pulled by tag: the tag and the digest reference; not dangling.
	e.must(k, "pull", "-q", ref)
	if got := names(ref); got != "["+ref+"] ["+dref+"]" {
		t.Fatalf("after pull by tag: %s", got)
	}
	// A format showing {{.Digest}} shows a tag's digest (docker's CLI).
	if got := rows(repo); got != repo+"|v1|"+m[1] {
		t.Fatalf("images: %q", got)
	}
	if got := e.must(k, "images", "--format", "{{.Repository}}|{{.Tag}}", repo); got != repo+"|v1" {
		t.Fatalf("images: %q", got)
	}
	if got := rows("--digests", repo); got != repo+"|v1|"+m[1] {
		t.Fatalf("images --digests: %q", got)
	}
	if out := e.must(k, "images", "-q", "--no-trunc", "--filter", "dangling=true"); strings.Contains(out, id) {
		t.Fatalf("a tagged image is dangling: %q", out)
	}
	if out := e.must(k, "image", "prune", "-f"); strings.Contains(out, id) {
		t.Fatalf("prune removed a tagged image: %q", out)
	}
	e.must(k, "create", "--name", ctr, ref, "true")
	if r := e.run(k, "", "rmi", ref); r.Code != 1 || !strings.Contains(r.Stderr, "unable to remove repository reference") {
		t.Fatalf("rmi of the tag of an image a container uses: %s", r)
	}
	e.must(k, "rm", ctr)
	// rmi by digest reference removes that name only.
	if out := e.must(k, "rmi", dref); out != "Untagged: "+dref {
		t.Fatalf("rmi by digest: %q", out)
	}
	if got := names(ref); got != "["+ref+"] []" {
		t.Fatalf("after rmi by digest: %s", got)
	}
	// rmi of the tag takes the repository's digest reference along.
	e.must(k, "pull", "-q", dref)
	if out := e.must(k, "rmi", ref); !strings.HasPrefix(out, "Untagged: "+ref+"\nUntagged: "+dref+"\nDeleted: "+id) {
		t.Fatalf("rmi of the tag: %q", out)
	}

	// save/load keep tags, not digests (as docker save/load).
	dir := t.TempDir()
	e.must(k, "pull", "-q", ref)
	byTag, byDigest := filepath.Join(dir, "tag.tar"), filepath.Join(dir, "digest.tar")
	e.must(k, "save", "-o", byTag, ref)
	e.must(k, "save", "-o", byDigest, dref)
	if got := archiveRepoTags(t, byTag); got != `[["`+ref+`"]]` {
		t.Fatalf("save by tag: RepoTags %s", got)
	}
	if got := archiveRepoTags(t, byDigest); got != "[null]" {
		t.Fatalf("save by digest: RepoTags %s", got)
	}
	e.must(k, "rmi", ref)
	if out := e.must(k, "load", "-i", byTag); out != "Loaded image: "+ref {
		t.Fatalf("load: %q", out)
	}
	if got := names(ref); got != "["+ref+"] []" {
		t.Fatalf("after save and load: %s", got)
	}
	e.must(k, "rmi", ref)
	if out := e.must(k, "load", "-i", byDigest); out != "Loaded image ID: "+id {
		t.Fatalf("load: %q", out)
	}
	if got := names(id); got != "[] []" {
		t.Fatalf("after save by digest and load: %s", got)
	}
	e.must(k, "rmi", id)
}

// importImage imports an image of one layer of random bytes with a label
// as name.
func importImage(t *testing.T, e *env, label, name string) {
	t.Helper()
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	data := []byte(randHex(32))
	tw.WriteHeader(&tar.Header{Name: "f", Mode: 0o644, Size: int64(len(data)), ModTime: time.Unix(1700000000, 0)})
	tw.Write(data)
	tw.Close()
	if r := e.run(berthCLI, layer.String(), "import", "--change", "LABEL "+label, "-", name); r.Code != 0 {
		t.Fatalf("import: %s", r)
	}
}

// archiveRepoTags returns the RepoTags of each manifest.json entry of a
// docker save archive, as JSON.
func archiveRepoTags(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("%s: no manifest.json (%v)", path, err)
		}
		if hdr.Name != "manifest.json" {
			continue
		}
		var entries []struct{ RepoTags []string }
		if err := json.NewDecoder(tr).Decode(&entries); err != nil {
			t.Fatal(err)
		}
		var tags [][]string
		for _, en := range entries {
			tags = append(tags, en.RepoTags)
		}
		b, _ := json.Marshal(tags)
		return string(b)
	}
}

// TestImageDigestsMatchDockerd runs one sequence of pulls by digest and
// by tag, images, inspect, image prune, rmi, save and load against the
// real dockerd and against berthd (both with the docker CLI, and berthd
// with berth's CLI too) and compares what they print. The image is unique
// to the test and carries a unique label that every prune filters on, so
// nothing else of dockerd's is touched.
func TestImageDigestsMatchDockerd(t *testing.T) {
	needPeer(t, "docker")
	e := newEnv(t)
	reg := startBerthRegistry(t)
	label := "berth-digest-test=" + randHex(6)
	repo := reg.host + "/cmp-" + randHex(4) + "/app"
	ref := repo + ":v1"
	other := "other-" + randHex(4) + "/x:1"
	keep := "cmp-keep-" + randHex(4)

	// The image: one layer of random bytes, labelled, pushed once.
	importImage(t, e, label, ref)
	m := pushDigestRe.FindStringSubmatch(e.must(berthCLI, "push", ref))
	if m == nil {
		t.Fatal("push printed no digest")
	}
	dref := repo + "@" + m[1]
	id := e.must(berthCLI, "image", "inspect", "--format", "{{.Id}}", ref)
	e.must(berthCLI, "rmi", ref)

	// Two more images, which another daemon pushes in turn under one tag.
	pusher := newEnv(t)
	mvRepo := reg.host + "/mv-" + randHex(4) + "/app"
	mv := mvRepo + ":v1"
	var mvDigests [2]string
	for i := range mvDigests {
		importImage(t, pusher, label, fmt.Sprintf("mvsrc:%d", i))
	}
	pushAs := func(i int) {
		pusher.must(berthCLI, "tag", fmt.Sprintf("mvsrc:%d", i), mv)
		m := pushDigestRe.FindStringSubmatch(pusher.must(berthCLI, "push", mv))
		if m == nil {
			t.Fatal("push printed no digest")
		}
		mvDigests[i] = m[1]
	}

	home := t.TempDir()
	dockerd := func(stdin string, args ...string) result {
		cmd := exec.Command(dockerPath, args...)
		cmd.Env = append(os.Environ(), "DOCKER_HOST=unix:///var/run/docker.sock", "HOME="+home)
		return harness.Run(t, cmd, stdin)
	}
	cleanDockerd := func() {
		dockerd("", "rm", "-f", keep)
		ids := strings.Fields(dockerd("", "images", "-q", "--no-trunc", "--filter", "label="+label).Stdout)
		for _, id := range ids {
			dockerd("", "rmi", "-f", id)
		}
	}
	cleanDockerd()
	t.Cleanup(cleanDockerd)

	dir := t.TempDir()
	transcript := func(who string, run func(stdin string, args ...string) result) []string {
		var lines []string
		ctrIDs := map[string]bool{}
		norm := func(s string) string {
			for c := range ctrIDs {
				s = strings.ReplaceAll(s, c, "<container>")
			}
			// dockerd 20.10 words a failed image inspect twice (newer
			// versions and berthd say "No such image: X" once).
			s = doubleNoSuchImage.ReplaceAllString(s, "No such image: ")
			// A tag time differs; whether there is one does not.
			s = timeRe.ReplaceAllStringFunc(s, func(t string) string {
				if t == "0001-01-01T00:00:00Z" {
					return t
				}
				return "<time>"
			})
			var kept []string
			for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
				if strings.HasPrefix(l, "Total reclaimed space:") {
					continue // sizes are counted differently
				}
				kept = append(kept, l)
			}
			return strings.Join(kept, "\n")
		}
		step := func(args ...string) result {
			r := run("", args...)
			out := r.Stdout
			if args[0] == "pull" {
				// The progress differs; the digest, status and name do not.
				var kept []string
				for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
					if strings.HasPrefix(l, "Digest: ") || strings.HasPrefix(l, "Status: ") || l == args[len(args)-1] {
						kept = append(kept, l)
					}
				}
				out = strings.Join(kept, "\n")
			}
			cmdline := strings.ReplaceAll(strings.Join(args, " "), filepath.Join(dir, who)+"-", "<dir>/")
			lines = append(lines, fmt.Sprintf("$ %s\nexit %d\n%s\n%s", cmdline, r.Code, norm(out), norm(r.Stderr)))
			return r
		}
		hold := func(ref string) {
			// A container keeps the image from other users' image prune
			// on a shared dockerd while the test looks at it.
			r := run("", "create", "--name", keep, ref, "x")
			if r.Code != 0 {
				lines = append(lines, "create failed: "+r.Stderr)
				return
			}
			id := strings.TrimSpace(r.Stdout)
			ctrIDs[id[:12]] = true
		}
		release := func() { run("", "rm", "-f", keep) }
		f := "{{.Repository}}|{{.Tag}}|{{.Digest}}"
		inspect := "{{.RepoTags}} {{.RepoDigests}} {{.Id}} {{.Metadata.LastTagTime}}"

		step("pull", dref)
		hold(dref)
		step("pull", dref)
		step("images", "--format", f, repo)
		step("images", "--digests", "--format", f, repo)
		step("images", "--filter", "dangling=true", "--filter", "label="+label, "--format", f)
		step("images", "--filter", "dangling=false", "--filter", "label="+label, "--format", f)
		step("image", "inspect", "--format", inspect, dref)
		step("ps", "-a", "--filter", "name="+keep, "--format", "{{.Image}}")
		step("rmi", dref)
		release()
		step("image", "prune", "-f", "--filter", "label="+label)
		step("image", "inspect", "--format", inspect, dref)

		step("pull", ref)
		step("image", "inspect", "--format", inspect, ref)
		step("images", "--digests", "--format", f, repo)
		step("images", "--filter", "dangling=true", "--filter", "label="+label, "--format", f)
		step("image", "prune", "-f", "--filter", "label="+label)
		step("tag", dref, repo+":v2")
		step("tag", dref, other)
		step("image", "inspect", "--format", inspect, ref)
		step("images", "--digests", "--format", f, repo)
		step("rmi", ref)
		step("rmi", id[7:19])
		step("rmi", repo+":v2")
		step("image", "inspect", "--format", inspect, dref)
		step("rmi", other)
		step("image", "inspect", "--format", inspect, id)

		step("pull", ref)
		step("tag", ref, repo+":v2")
		for _, save := range [][2]string{{"tag", ref}, {"digest", dref}, {"repository", repo}, {"id", id[7:19]}} {
			p := filepath.Join(dir, who+"-"+save[0]+".tar")
			step("save", "-o", p, save[1])
			lines = append(lines, "save by "+save[0]+": "+archiveRepoTags(t, p))
		}
		step("rmi", repo+":v2")
		step("rmi", ref)
		step("load", "-i", filepath.Join(dir, who+"-tag.tar"))
		step("image", "inspect", "--format", inspect, ref)
		step("rmi", ref)
		step("load", "-i", filepath.Join(dir, who+"-digest.tar"))
		step("image", "inspect", "--format", inspect, id)
		step("rmi", id)

		// A tag that moved in the registry: the old image keeps its digest
		// reference, untagged.
		pushAs(0)
		step("pull", mv)
		pushAs(1)
		step("pull", mv)
		step("image", "inspect", "--format", inspect, mv)
		step("image", "inspect", "--format", inspect, mvRepo+"@"+mvDigests[0])
		step("images", "--filter", "dangling=true", "--filter", "label="+label, "--format", f)
		step("image", "prune", "-f", "--filter", "label="+label)
		step("rmi", mv)
		return lines
	}

	berthd := transcript("berthd", func(stdin string, args ...string) result { return e.run(dockerCLI, stdin, args...) })
	berthCLIt := transcript("berth-cli", func(stdin string, args ...string) result { return e.run(berthCLI, stdin, args...) })
	var want []string
	// Another user's unfiltered image prune on this shared dockerd can take
	// the untagged image between two steps: try a few times.
	for attempt := 0; attempt < 3; attempt++ {
		cleanDockerd()
		want = transcript("dockerd-"+fmt.Sprint(attempt), dockerd)
		if strings.Join(want, "\n") == strings.Join(berthd, "\n") {
			break
		}
	}
	for name, got := range map[string][]string{"docker CLI on berthd": berthd, "berth CLI on berthd": berthCLIt} {
		if len(got) != len(want) {
			t.Errorf("%s: %d steps, dockerd %d", name, len(got), len(want))
			continue
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s differs from dockerd:\n--- dockerd\n%s\n--- %s\n%s", name, want[i], name, got[i])
			}
		}
	}
}
