package build

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/berth-project/berth/internal/archive"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/integration/harness"
	"github.com/berth-project/berth/internal/peertest"
)

// The peers: dockerd on its default socket with the berth-bench/busybox
// image (made from the same busybox-static as berth's seeded busybox).
const (
	dockerSock     = "/var/run/docker.sock"
	dockerBase     = "berth-bench/busybox:latest"
	dockerBuildKit = "/usr/bin/docker" // Debian's CLI 20.10, builds with BuildKit
)

// peerDocker returns how to run docker against dockerd, or skips.
func peerDocker(t *testing.T, cli string) []string {
	t.Helper()
	if _, err := os.Stat(cli); err != nil {
		t.Skipf("no docker CLI at %s", cli)
	}
	if _, err := os.Stat(dockerSock); err != nil {
		t.Skip("no dockerd at " + dockerSock)
	}
	// dockerd answers (it may be stopped, or hang) and has the base image.
	peertest.Require(t, "dockerd with "+dockerBase, []string{"DOCKER_HOST=unix://" + dockerSock}, cli, "image", "inspect", dockerBase)
	return []string{cli}
}

// dockerBuild builds dir with dockerd and returns the image tag (removed
// when the test ends).
func dockerBuild(t *testing.T, cli string, buildkit bool, dir string, args ...string) string {
	t.Helper()
	tag := "berth-compare-" + harness.RandHex(6)
	argv := append([]string{"build", "-q", "-t", tag, "--build-arg", "BASE=" + dockerBase}, args...)
	cmd := exec.Command(cli, append(argv, dir)...)
	env := "DOCKER_BUILDKIT=0"
	if buildkit {
		env = "DOCKER_BUILDKIT=1"
	}
	cmd.Env = append(os.Environ(), env, "DOCKER_HOST=unix://"+dockerSock)
	out, err := cmd.CombinedOutput()
	t.Cleanup(func() {
		exec.Command(cli, "rmi", "-f", tag).Run()
	})
	if err != nil {
		t.Fatalf("docker build (%s): %v\n%s", env, err, out)
	}
	return tag
}

// compared is the part of an image config the issue asks to match.
type compared struct {
	Cmd, Entrypoint, Env []string
	WorkingDir, User     string
	ExposedPorts         map[string]struct{}
	Volumes              map[string]struct{}
	Labels               map[string]string
	Healthcheck          *image.HealthConfig
}

func dockerConfig(t *testing.T, cli, tag string) compared {
	t.Helper()
	out, err := exec.Command(cli, "image", "inspect", "--format", "{{json .Config}}", tag).Output()
	if err != nil {
		t.Fatalf("docker inspect %s: %v", tag, err)
	}
	var c compared
	if err := json.Unmarshal(out, &c); err != nil {
		t.Fatal(err)
	}
	return normalize(c)
}

func berthConfig(t *testing.T, d *harness.Daemon, ref string) compared {
	cfg := imageConfig(t, d, ref).Config
	return normalize(compared{Cmd: cfg.Cmd, Entrypoint: cfg.Entrypoint, Env: cfg.Env, WorkingDir: cfg.WorkingDir, User: cfg.User,
		ExposedPorts: cfg.ExposedPorts, Volumes: cfg.Volumes, Labels: cfg.Labels, Healthcheck: cfg.Healthcheck})
}

// normalize treats empty and missing the same.
func normalize(c compared) compared {
	if len(c.Cmd) == 0 {
		c.Cmd = nil
	}
	if len(c.Entrypoint) == 0 {
		c.Entrypoint = nil
	}
	if len(c.ExposedPorts) == 0 {
		c.ExposedPorts = nil
	}
	if len(c.Volumes) == 0 {
		c.Volumes = nil
	}
	if len(c.Labels) == 0 {
		c.Labels = nil
	}
	return c
}

// tree maps each path of a root filesystem to its type, mode, owner and
// content digest (or link target); times are left out.
type tree map[string]string

func readTree(t *testing.T, root string) tree {
	t.Helper()
	out := tree{}
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		st := fi.Sys().(*syscall.Stat_t)
		desc := fmt.Sprintf("%s %o %d:%d", fi.Mode().Type(), fi.Mode().Perm()|fi.Mode()&(os.ModeSetuid|os.ModeSetgid|os.ModeSticky), st.Uid, st.Gid)
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			desc += " -> " + l
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		out["/"+filepath.ToSlash(rel)] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// changes returns what built has that differs from base, and what base
// has that built lacks.
func changes(base, built tree) map[string]string {
	out := map[string]string{}
	for p, d := range built {
		if base[p] != d {
			out[p] = d
		}
	}
	for p := range base {
		if _, ok := built[p]; !ok {
			out[p] = "deleted"
		}
	}
	return out
}

// applyLayers extracts layer tars in order into a new directory.
func applyLayers(t *testing.T, layers []io.ReadCloser) string {
	t.Helper()
	root := t.TempDir()
	for _, l := range layers {
		dec, err := archive.Decompress(l)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := archive.Apply(context.Background(), root, dec, archive.ApplyOptions{}); err != nil {
			t.Fatal(err)
		}
		dec.Close()
		l.Close()
	}
	return root
}

// berthTree is the file tree of a berth image, from its stored layers.
func berthTree(t *testing.T, d *harness.Daemon, ref string) tree {
	t.Helper()
	ctx := context.Background()
	store := openStore(t, d)
	rec, err := store.Resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	r, err := image.Resolve(ctx, store.Content(), rec.Target, store.Platform())
	if err != nil {
		t.Fatal(err)
	}
	var layers []io.ReadCloser
	for _, l := range r.Manifest.Layers {
		rc, err := store.Content().Open(ctx, l.Digest)
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, rc)
	}
	return readTree(t, applyLayers(t, layers))
}

// dockerTree is the file tree of a dockerd image, from `docker save`.
func dockerTree(t *testing.T, cli, tag string) tree {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(cli, "save", tag)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(out)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		p := filepath.Join(dir, path.Clean("/"+hdr.Name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(f, tr)
		f.Close()
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("docker save: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var man []struct{ Layers []string }
	if err := json.Unmarshal(b, &man); err != nil || len(man) != 1 {
		t.Fatalf("docker save manifest: %v", err)
	}
	var layers []io.ReadCloser
	for _, l := range man[0].Layers {
		f, err := os.Open(filepath.Join(dir, l))
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, f)
	}
	return readTree(t, applyLayers(t, layers))
}

// compareBuild builds files with berth and with dockerd and compares the
// image configs and the file changes each made to its base.
func compareBuild(t *testing.T, d *harness.Daemon, cli string, buildkit bool, files map[string]string, args ...string) {
	compareBuildStubs(t, d, cli, buildkit, nil, files, args...)
}

// compareBuildStubs is compareBuild allowing the empty directories in
// stubs to exist only in docker's image: dockerd 20.10's BuildKit (v0.8)
// leaves the mount points of RUN --mount (and /proc, /sys, /dev when the
// base lacks them) in the layer; BuildKit since v0.9 and berth remove them.
func compareBuildStubs(t *testing.T, d *harness.Daemon, cli string, buildkit bool, stubs []string, files map[string]string, args ...string) {
	t.Helper()
	dir := writeContext(t, files)
	tag := "cmp-" + harness.RandHex(4)
	build(t, d, dir, append([]string{"-t", tag, "--build-arg", "BASE=busybox"}, args...)...)
	dtag := dockerBuild(t, cli, buildkit, dir, args...)

	if b, k := berthConfig(t, d, tag), dockerConfig(t, cli, dtag); !reflect.DeepEqual(b, k) {
		bj, _ := json.MarshalIndent(b, "", " ")
		kj, _ := json.MarshalIndent(k, "", " ")
		t.Errorf("configs differ:\nberth:  %s\ndocker: %s", bj, kj)
	}
	bBase, kBase := berthTree(t, d, "busybox"), dockerTree(t, cli, dockerBase)
	bc := changes(bBase, berthTree(t, d, tag))
	kc := changes(kBase, dockerTree(t, cli, dtag))
	var diffs []string
	for p, v := range bc {
		if bBase[p] != kBase[p] && bBase[p] != "" && kBase[p] != "" {
			// The two busybox images differ here (made at different
			// times): only require that both builds changed it.
			if _, ok := kc[p]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s: changed by berth only", p))
			}
			continue
		}
		if kc[p] != v {
			diffs = append(diffs, fmt.Sprintf("%s: berth %q, docker %q", p, v, kc[p]))
		}
	}
	isStub := map[string]bool{}
	for _, p := range stubs {
		isStub[p] = true
	}
	for p, v := range kc {
		if isStub[p] && strings.HasPrefix(v, "d") {
			continue
		}
		if _, ok := bc[p]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: berth %q, docker %q", p, "", v))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Errorf("file changes differ (%d):\n%s", len(diffs), strings.Join(diffs, "\n"))
	}
	if len(bc) == 0 {
		t.Errorf("the Dockerfile changed no files: nothing was compared")
	}
}

// TestSameAsDockerLegacyBuilder builds Dockerfiles with berth and with
// dockerd's legacy builder and compares config and files.
func TestSameAsDockerLegacyBuilder(t *testing.T) {
	cli := peerDocker(t, harness.DockerCLI)[0]
	d := harness.Start(t)
	t.Run("single stage", func(t *testing.T) {
		compareBuild(t, d, cli, false, map[string]string{
			"Dockerfile": `ARG BASE
FROM $BASE
ENV APP=/app PATH=/app/bin:$PATH
LABEL com.example.k=v com.example.other="two words"
WORKDIR /app
COPY --chown=1000:1000 src/ ./src/
COPY top.txt *.md ./
ADD arch.tar.gz /app/ext/
RUN mkdir -p bin && printf '#!/bin/sh\necho hi\n' > bin/hi && chmod 755 bin/hi && rm -f src/removed.txt && ln -s top.txt link
RUN echo 'app:x:1000:1000::/app:/bin/sh' >> /etc/passwd && chmod 4755 /app/bin/hi
USER app
EXPOSE 8080/tcp 8081/udp
VOLUME /data /cache
HEALTHCHECK --interval=10s --timeout=3s --start-period=1s --retries=3 CMD ["/app/bin/hi"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/app/bin/hi"]
CMD ["--flag"]
`,
			"src/main.c":      "int main(){}\n",
			"src/removed.txt": "gone in a later step\n",
			"src/sub/util.h":  "#pragma once\n",
			"top.txt":         "top\n",
			"README.md":       "readme\n",
			"arch.tar.gz":     tarGz(t, map[string]string{"a/b.txt": "in archive\n", "c.txt": "c\n"}),
		})
	})
	t.Run("multi-stage", func(t *testing.T) {
		compareBuild(t, d, cli, false, map[string]string{
			"Dockerfile": `ARG BASE
FROM $BASE AS builder
RUN mkdir /out && echo built > /out/artifact && chmod 600 /out/artifact && mkdir /out/empty
FROM $BASE
COPY --from=builder /out/ /opt/
COPY --from=builder /out/artifact /single
ARG V=1
RUN echo "v=$V" > /v.txt
SHELL ["/bin/sh", "-c"]
CMD cat /v.txt
`,
		}, "--build-arg", "V=2")
	})
}

// TestSameAsDockerBuildKit compares the instructions only BuildKit has
// (RUN --mount, COPY --chmod) with dockerd's BuildKit.
func TestSameAsDockerBuildKit(t *testing.T) {
	cli := peerDocker(t, dockerBuildKit)[0]
	d := harness.Start(t)
	stubs := []string{"/dev", "/proc", "/sys", "/mnt", "/mnt/data", "/scratch", "/var", "/var/cache", "/var/cache/app"}
	compareBuildStubs(t, d, cli, true, stubs, map[string]string{
		"Dockerfile": `ARG BASE
FROM $BASE
COPY --chmod=640 conf.ini /etc/app/conf.ini
RUN --mount=type=bind,source=data,target=/mnt/data cp /mnt/data/x /x-from-bind
RUN --mount=type=cache,target=/var/cache/app echo cached > /var/cache/app/c && ls /var/cache/app > /cache-list
RUN --mount=type=tmpfs,target=/scratch echo temp > /scratch/t && cat /scratch/t > /from-tmpfs
CMD ["cat", "/x-from-bind"]
`,
		"conf.ini": "[app]\n",
		"data/x":   "bound\n",
	})
}
