package image

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
)

func TestApplyChanges(t *testing.T) {
	var cfg RunConfig
	cfg.Env = []string{"PATH=/bin"}
	err := ApplyChanges(&cfg, []string{
		`CMD ["/bin/sh", "-c", "echo hi"]`,
		`entrypoint /init --flag`,
		`ENV PATH=/usr/bin:/bin GREETING="hello world"`,
		`ENV LEGACY some value`,
		`LABEL a=b "c d"=e`,
		`EXPOSE 80 53/udp`,
		`VOLUME ["/data"]`,
		`VOLUME /cache /tmp/x`,
		`WORKDIR /srv`,
		`USER 1000:1000`,
		`STOPSIGNAL SIGINT`,
		`HEALTHCHECK --interval=5s --retries=3 CMD curl -f http://localhost/`,
		`ONBUILD RUN make`,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := RunConfig{}
	want.Cmd = []string{"/bin/sh", "-c", "echo hi"}
	want.Entrypoint = []string{"/bin/sh", "-c", "/init --flag"}
	want.Env = []string{"PATH=/usr/bin:/bin", "GREETING=hello world", "LEGACY=some value"}
	want.Labels = map[string]string{"a": "b", "c d": "e"}
	want.ExposedPorts = map[string]struct{}{"80/tcp": {}, "53/udp": {}}
	want.Volumes = map[string]struct{}{"/data": {}, "/cache": {}, "/tmp/x": {}}
	want.WorkingDir, want.User, want.StopSignal = "/srv", "1000:1000", "SIGINT"
	want.Healthcheck = &HealthConfig{Test: []string{"CMD-SHELL", "curl -f http://localhost/"}, Interval: 5e9, Retries: 3}
	want.OnBuild = []string{"RUN make"}
	if !reflect.DeepEqual(cfg, want) {
		g, _ := json.Marshal(cfg)
		w, _ := json.Marshal(want)
		t.Fatalf("got  %s\nwant %s", g, w)
	}
	for _, bad := range []string{"FROM x", "EXPOSE 99999", "CMD", `ENV "unterminated`, "SHELL sh", "LABEL novalue"} {
		if err := ApplyChanges(&cfg, []string{bad}); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestImportCommitInspectHistory(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	rootfs := makeLayer(t, map[string]string{"bin/": "", "bin/app": "binary"})
	li, err := s.Import(ctx, bytes.NewReader(gzipBytes(t, rootfs)), CommitOptions{Name: "imported:v1", Changes: []string{`CMD ["/bin/app"]`, "ENV A=1"}})
	if err != nil {
		t.Fatal(err)
	}
	if li.Name != "docker.io/library/imported:v1" {
		t.Fatalf("name %q", li.Name)
	}
	info, err := s.Inspect(ctx, "imported:v1")
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != li.ID.String() || info.Config.Cmd[0] != "/bin/app" || info.Config.Env[0] != "A=1" ||
		len(info.RootFS.Layers) != 1 || info.RootFS.Layers[0] != digest.FromBytes(rootfs).String() ||
		info.Size != int64(len(rootfs)) || !reflect.DeepEqual(info.RepoTags, []string{"imported:v1"}) || len(info.RepoDigests) != 0 {
		// No RepoDigests: as in Docker, only a pull or push records one.
		t.Fatalf("inspect %+v", info)
	}
	b, _ := json.Marshal(info)
	for _, field := range []string{`"Id":"sha256:`, `"RepoTags":["imported:v1"]`, `"RootFS":{"Type":"layers","Layers":[`, `"Os":"linux"`, `"Cmd":["/bin/app"]`} {
		if !strings.Contains(string(b), field) {
			t.Errorf("inspect JSON lacks %s: %s", field, b)
		}
	}

	// Commit a second layer on top (what `docker commit` does with a diff).
	diff := makeLayer(t, map[string]string{"etc/": "", "etc/conf": "x"})
	child, err := s.Commit(ctx, "imported:v1", bytes.NewReader(diff), CommitOptions{Name: "child", CreatedBy: "/bin/sh -c edit", Changes: []string{"WORKDIR /etc"}})
	if err != nil {
		t.Fatal(err)
	}
	ci, _ := s.Inspect(ctx, "child")
	if ci.Parent != li.ID.String() || len(ci.RootFS.Layers) != 2 || ci.Config.Cmd[0] != "/bin/app" || ci.Config.WorkingDir != "/etc" {
		t.Fatalf("child inspect %+v", ci)
	}
	hist, err := s.History(ctx, "child")
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].ID != child.ID.String() || hist[0].CreatedBy != "/bin/sh -c edit" ||
		hist[0].Size != int64(len(diff)) || hist[1].ID != "<missing>" || hist[1].Comment != "Imported from -" ||
		!reflect.DeepEqual(hist[0].Tags, []string{"child:latest"}) {
		t.Fatalf("history %+v", hist)
	}
	sums, err := s.Summaries(ctx)
	if err != nil || len(sums) != 2 {
		t.Fatalf("summaries %+v %v", sums, err)
	}
}

func TestTagDeleteAndDangling(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	a, b := twoImages(t)
	loadBytes(t, s, dockerArchive(t, a, b))
	if _, err := s.Tag(ctx, "busybox", "mine:1"); err != nil {
		t.Fatal(err)
	}
	info, _ := s.Inspect(ctx, "mine:1")
	if !reflect.DeepEqual(info.RepoTags, []string{"busybox:latest", "localhost:5000/x:y", "mine:1"}) {
		t.Fatalf("tags %v", info.RepoTags)
	}
	// Retagging user/app:v1 onto busybox leaves app's image dangling.
	appID := digest.FromBytes(b.config(t))
	if _, err := s.Tag(ctx, "busybox", "user/app:v1"); err != nil {
		t.Fatal(err)
	}
	dangling, err := s.Resolve(ctx, appID.Encoded())
	if err != nil || !dangling.Dangling() {
		t.Fatalf("old image not kept dangling: %+v %v", dangling, err)
	}
	// Tagging it again removes the dangling record.
	if _, err := s.Tag(ctx, appID.String(), "back:again"); err != nil {
		t.Fatal(err)
	}
	all, _ := s.List(ctx)
	for _, i := range all {
		if i.Dangling() {
			t.Fatalf("dangling record left: %s", i.Name)
		}
	}
	if err := s.Delete(ctx, "mine:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "mine:1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted image still there: %v", err)
	}
	if err := s.Delete(ctx, "mine:1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := s.Get(ctx, "Bad Name"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad name: %v", err)
	}
	// Delete everything, then GC frees every blob.
	all, _ = s.List(ctx)
	for _, i := range all {
		s.Delete(ctx, i.Name)
	}
	res, err := s.GarbageCollect(ctx, contentGCDefaults())
	if err != nil || len(res.Removed) != 7 {
		t.Fatalf("gc removed %d blobs (%v)", len(res.Removed), err)
	}
}
