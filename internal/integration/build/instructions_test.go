package build

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/integration/harness"
)

// TestEveryInstruction builds one image with every Dockerfile instruction
// and checks both its config and what a container of it sees.
func TestEveryInstruction(t *testing.T) {
	d := harness.Start(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile": `# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM $BASE AS base
ONBUILD RUN echo triggered > /onbuild.txt
ONBUILD ENV FROM_TRIGGER=yes

FROM base
MAINTAINER berth tests
ARG STAGE_ARG=default
ENV A=1 B="two words" ARGCOPY=$STAGE_ARG
LABEL org.example.one=1 "org.example.two"="two words"
EXPOSE 80 53/udp 9000-9001
VOLUME ["/data"]
SHELL ["/bin/sh", "-e", "-c"]
WORKDIR /work
WORKDIR sub
COPY --chown=123:456 --chmod=640 files/*.txt ./
COPY --link files/dir/ /copied-dir/
COPY --from=busybox /etc/group /from-image/group
ADD files/archive.tar.gz /extracted/
ADD --chmod=755 files/script.sh /usr/local/bin/script
RUN echo "A=$A B=$B STAGE_ARG=$STAGE_ARG" > /run.txt && pwd >> /run.txt
RUN ["/bin/sh", "-c", "echo exec form > /exec.txt"]
RUN <<EOF
echo heredoc line 1 > /heredoc.txt
echo heredoc line 2 >> /heredoc.txt
EOF
COPY <<EOT /etc/greeting
hello from a heredoc
EOT
USER 1000:1000
STOPSIGNAL SIGINT
HEALTHCHECK --interval=30s --timeout=5s --retries=2 CMD ["true"]
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /run.txt"]
`,
		"files/a.txt":          "file a\n",
		"files/b.txt":          "file b\n",
		"files/c.md":           "not copied by the glob\n",
		"files/dir/inner":      "inner file\n",
		"files/dir/deep/x":     "deep\n",
		"files/archive.tar.gz": tarGz(t, map[string]string{"in-archive/one": "1\n", "two": "2\n"}),
		"files/script.sh":      "#!/bin/sh\necho script ran\n",
	})
	r := build(t, d, dir, "-t", "every", "--build-arg", "STAGE_ARG=given")
	if !strings.Contains(r.Stdout, "# Executing 2 build triggers") {
		t.Errorf("ONBUILD triggers not run:\n%s", r.Stdout)
	}
	cfg := imageConfig(t, d, "every")
	c := cfg.Config
	checks := []struct {
		what      string
		got, want any
	}{
		{"Author", cfg.Author, "berth tests"},
		{"Cmd", c.Cmd, []string{"cat /run.txt"}},
		{"Entrypoint", c.Entrypoint, []string{"/bin/sh", "-c"}},
		{"WorkingDir", c.WorkingDir, "/work/sub"},
		{"User", c.User, "1000:1000"},
		{"StopSignal", c.StopSignal, "SIGINT"},
		{"Shell", c.Shell, []string{"/bin/sh", "-e", "-c"}},
		{"Labels", c.Labels, map[string]string{"org.example.one": "1", "org.example.two": "two words"}},
		{"ExposedPorts", c.ExposedPorts, map[string]struct{}{"80/tcp": {}, "53/udp": {}, "9000/tcp": {}, "9001/tcp": {}}},
		{"Volumes", c.Volumes, map[string]struct{}{"/data": {}}},
		{"OnBuild", c.OnBuild, []string(nil)},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.what, ch.got, ch.want)
		}
	}
	for _, e := range []string{"A=1", "B=two words", "ARGCOPY=given", "FROM_TRIGGER=yes"} {
		if !contains(c.Env, e) {
			t.Errorf("Env %q lacks %s", c.Env, e)
		}
	}
	for _, e := range c.Env {
		if strings.HasPrefix(e, "STAGE_ARG=") {
			t.Errorf("ARG leaked into Env: %s", e)
		}
	}
	if h := c.Healthcheck; h == nil || !reflect.DeepEqual(h.Test, []string{"CMD", "true"}) || h.Interval != int64(30*time.Second) || h.Timeout != int64(5*time.Second) || h.Retries != 2 {
		t.Errorf("Healthcheck %+v", c.Healthcheck)
	}

	// What a container of the image sees (as root, to read everything).
	out := d.Must("run", "--rm", "--user", "0", "every", strings.Join([]string{
		"cat /run.txt /exec.txt /heredoc.txt /etc/greeting /onbuild.txt",
		"stat -c '%n %u:%g %a' /work/sub/a.txt /work/sub/b.txt",
		"ls /work/sub",
		"cat /copied-dir/inner /copied-dir/deep/x",
		"head -1 /from-image/group",
		"cat /extracted/in-archive/one /extracted/two",
		"stat -c '%a' /usr/local/bin/script && script",
	}, " && "))
	want := strings.Join([]string{
		"A=1 B=two words STAGE_ARG=given", "/work/sub", "exec form", "heredoc line 1", "heredoc line 2",
		"hello from a heredoc", "triggered",
		"/work/sub/a.txt 123:456 640", "/work/sub/b.txt 123:456 640",
		"a.txt", "b.txt",
		"inner file", "deep",
		"root:x:0:",
		"1", "2",
		"755", "script ran",
	}, "\n")
	if out != want {
		t.Errorf("container sees:\n%s\nwant:\n%s", out, want)
	}
	// The default CMD through the ENTRYPOINT, as the image's user.
	if out := d.Must("run", "--rm", "every"); out != "A=1 B=two words STAGE_ARG=given\n/work/sub" {
		t.Errorf("default command: %q", out)
	}
}

// TestFromScratch builds FROM scratch with a static binary and runs it.
func TestFromScratch(t *testing.T) {
	d := harness.Start(t)
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skip("no /bin/busybox (busybox-static)")
	}
	dir := writeContext(t, map[string]string{
		"Dockerfile": "FROM scratch\nCOPY busybox /bin/busybox\nCOPY hello /hello\nENTRYPOINT [\"/bin/busybox\"]\nCMD [\"cat\", \"/hello\"]\n",
		"busybox":    string(bb),
		"hello":      "from scratch\n",
	})
	os.Chmod(filepath.Join(dir, "busybox"), 0o755)
	build(t, d, dir, "-t", "scratchy")
	if out := d.Must("run", "--rm", "scratchy"); out != "from scratch" {
		t.Errorf("run: %q", out)
	}
	cfg := imageConfig(t, d, "scratchy")
	if len(cfg.RootFS.DiffIDs) != 2 || cfg.OS != "linux" || !contains(cfg.Config.Env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") {
		t.Errorf("scratch image config: %+v", cfg)
	}
}

// TestAddRemoteURL serves files on 127.0.0.1: ADD downloads them (mode
// 0600, not extracted) and checks --checksum.
func TestAddRemoteURL(t *testing.T) {
	d := harness.Start(t)
	payload := tarGz(t, map[string]string{"x": "y"})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT")
		w.Write([]byte(payload))
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	url := "http://" + l.Addr().String() + "/files/payload.tar.gz"
	sum := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(payload)))
	dir := writeContext(t, map[string]string{"Dockerfile": fmt.Sprintf(
		"FROM busybox\nADD %s /dl/\nADD --checksum=%s %s /checked\n", url, sum, url)})
	build(t, d, dir, "-t", "adder")
	out := d.Must("run", "--rm", "adder", "sh", "-c", "stat -c '%a %Y' /dl/payload.tar.gz /checked && md5sum /dl/payload.tar.gz /checked | cut -d' ' -f1 | uniq | wc -l")
	if out != "600 1445412480\n600 1445412480\n1" {
		t.Errorf("downloaded files: %q", out)
	}
	bad := writeContext(t, map[string]string{"Dockerfile": fmt.Sprintf(
		"FROM busybox\nADD --checksum=sha256:%s %s /checked\n", strings.Repeat("0", 64), url)})
	r := d.Berth("", "", nil, "build", bad)
	if r.Code == 0 || !strings.Contains(r.Stderr, "checksum") {
		t.Errorf("a wrong checksum was accepted: %s", r)
	}
}

func tarGz(t *testing.T, files map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, data := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg, ModTime: time.Unix(1600000000, 0)})
		tw.Write([]byte(data))
	}
	tw.Close()
	gz.Close()
	return buf.String()
}
