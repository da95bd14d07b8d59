package images

import (
	"archive/tar"
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/internal/content"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/snapshot/native"
)

// newService is a service over a real content store, image store and
// (plain-copy) snapshotter in a temp dir, without containers.
func newService(t *testing.T) *Service {
	t.Helper()
	root := t.TempDir()
	cs, err := content.New(root + "/content")
	if err != nil {
		t.Fatal(err)
	}
	store, err := image.NewStore(root, cs)
	if err != nil {
		t.Fatal(err)
	}
	sn, err := native.NewNative(root + "/snapshots")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sn.Close() })
	return New(Config{Store: store, Snapshotter: sn})
}

// importImage imports a one-file layer as name with labels, created at
// created.
func importImage(t *testing.T, s *Service, name, file string, labels map[string]string, created time.Time) string {
	t.Helper()
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	tw.WriteHeader(&tar.Header{Name: file, Mode: 0o644, Size: int64(len(file) * 1000), ModTime: created, Typeflag: tar.TypeReg})
	tw.Write(bytes.Repeat([]byte(file), 1000))
	tw.Close()
	cfg := &image.RunConfig{ImageConfig: ocispec.ImageConfig{Labels: labels, Cmd: []string{"true"}}}
	li, err := s.store.Import(context.Background(), &layer, image.CommitOptions{Name: name, Config: cfg, Created: created})
	if err != nil {
		t.Fatal(err)
	}
	return li.ID.String()
}

func listNames(t *testing.T, s *Service, filters map[string][]string) []string {
	t.Helper()
	list, err := s.List(context.Background(), ListOptions{Filters: filters})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, im := range list {
		if len(im.RepoTags) == 0 {
			out = append(out, "<none>")
		}
		out = append(out, im.RepoTags...)
	}
	return out
}

func TestListFilters(t *testing.T) {
	s := newService(t)
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	importImage(t, s, "old:1", "a", map[string]string{"tier": "web"}, t0)
	importImage(t, s, "mid:1", "b", map[string]string{"tier": "db", "keep": ""}, t0.Add(time.Hour))
	importImage(t, s, "new:1", "c", nil, t0.Add(2*time.Hour))
	if err := s.Tag(context.Background(), "new:1", "other/new", "2"); err != nil {
		t.Fatal(err)
	}
	// Retagging old:1 onto mid's image leaves old's image dangling.
	if err := s.Tag(context.Background(), "mid:1", "old", "1"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		filters map[string][]string
		want    string
	}{
		{nil, "[new:1 other/new:2 mid:1 old:1 <none>]"},
		{map[string][]string{"dangling": {"true"}}, "[<none>]"},
		{map[string][]string{"dangling": {"false"}}, "[new:1 other/new:2 mid:1 old:1]"},
		{map[string][]string{"label": {"tier"}}, "[mid:1 old:1 <none>]"},
		{map[string][]string{"label": {"tier=db"}}, "[mid:1 old:1]"},
		{map[string][]string{"label": {"tier=db", "keep"}}, "[mid:1 old:1]"},
		{map[string][]string{"label!": {"tier"}}, "[new:1 other/new:2]"},
		{map[string][]string{"reference": {"other/*"}}, "[other/new:2]"},
		{map[string][]string{"reference": {"new"}}, "[new:1]"},
		{map[string][]string{"before": {"new:1"}}, "[mid:1 old:1 <none>]"},
		{map[string][]string{"since": {"mid:1"}}, "[new:1 other/new:2]"},
		{map[string][]string{"until": {t0.Add(90 * time.Minute).Format(time.RFC3339)}}, "[mid:1 old:1 <none>]"},
	} {
		if got := strings.Join(listNames(t, s, c.filters), " "); "["+got+"]" != c.want {
			t.Errorf("filters %v: %s, want %s", c.filters, "["+got+"]", c.want)
		}
	}
	if _, err := s.List(context.Background(), ListOptions{Filters: map[string][]string{"bogus": {"1"}}}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("invalid filter: %v", err)
	}
	if _, err := s.List(context.Background(), ListOptions{Filters: map[string][]string{"before": {"nope:1"}}}); !errdefs.IsNotFound(err) {
		t.Errorf("before a missing image: %v", err)
	}
}

func TestPruneFilters(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	importImage(t, s, "a:1", "a", map[string]string{"env": "test"}, t0)
	importImage(t, s, "b:1", "b", nil, t0.Add(time.Hour))
	importImage(t, s, "c:1", "c", map[string]string{"env": "prod"}, t0.Add(2*time.Hour))
	danglingID := importImage(t, s, "d:1", "d", nil, t0)
	if _, err := s.Remove(ctx, "d:1", RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := listNames(t, s, nil); len(n) != 3 {
		t.Fatalf("after rmi: %v", n)
	}
	// Nothing dangling: the default prune removes nothing tagged.
	rep, err := s.Prune(ctx, nil)
	if err != nil || len(rep.ImagesDeleted) != 0 {
		t.Fatalf("prune without dangling images: %+v, %v", rep, err)
	}
	rep, err = s.Prune(ctx, map[string][]string{"dangling": {"false"}, "label": {"env=test"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(listNames(t, s, nil), " "); got != "c:1 b:1" {
		t.Fatalf("after prune -a --filter label=env=test: %s (%+v)", got, rep)
	}
	if rep.SpaceReclaimed == 0 {
		t.Error("prune reclaimed no space")
	}
	rep, err = s.Prune(ctx, map[string][]string{"dangling": {"false"}, "until": {t0.Add(90 * time.Minute).Format(time.RFC3339)}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(listNames(t, s, nil), " "); got != "c:1" {
		t.Fatalf("after prune -a --filter until: %s (%+v)", got, rep)
	}
	if _, err := s.Inspect(ctx, danglingID); !errdefs.IsNotFound(err) {
		t.Errorf("removed image still there: %v", err)
	}
	if _, err := s.Prune(ctx, map[string][]string{"dangling": {"maybe"}}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("bad dangling value: %v", err)
	}
}

func TestDiskUsage(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	id := importImage(t, s, "one:1", "a", nil, t0)
	if err := s.Tag(ctx, "one:1", "two", "1"); err != nil {
		t.Fatal(err)
	}
	other := importImage(t, s, "three:1", "b", nil, t0)
	if _, err := s.store.Unpack(ctx, s.sn, "one:1"); err != nil {
		t.Fatal(err)
	}
	du, err := s.DiskUsage(ctx, DiskUsageOptions{Images: true, Containers: true, Volumes: true, BuildCache: true})
	if err != nil {
		t.Fatal(err)
	}
	cu, err := s.store.Content().Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	iu := du.ImageUsage
	if iu.TotalCount != 2 || iu.TotalSize <= cu.BlobBytes {
		t.Fatalf("image usage %+v: want 2 images and more than the %d blob bytes (the unpacked layer)", iu, cu.BlobBytes)
	}
	sizes := map[string]int64{}
	for _, im := range iu.Items {
		sizes[im.ID] = im.Size
		if im.SharedSize != 0 {
			t.Errorf("%s shares %d bytes with nothing", im.ID, im.SharedSize)
		}
	}
	if sizes[id] <= sizes[other] {
		t.Errorf("the unpacked image (%d) is not larger than the packed one (%d)", sizes[id], sizes[other])
	}
	if iu.Reclaimable != iu.TotalSize {
		t.Errorf("no container: reclaimable %d of %d", iu.Reclaimable, iu.TotalSize)
	}
	if du.ContainerUsage == nil || du.VolumeUsage == nil || du.BuildCacheUsage == nil {
		t.Errorf("missing usage kinds: %+v", du)
	}
}
