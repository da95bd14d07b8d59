package images

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	containertypes "github.com/moby/moby/api/types/container"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/system"

	"github.com/berth-project/berth/internal/apiserver"
	engine "github.com/berth-project/berth/internal/engine/images"
	"github.com/berth-project/berth/internal/errdefs"
)

// recorder is a Backend that records what the routes asked for; the
// engine behind it is tested on its own (engine/images) and end to end
// (integration/engine).
type recorder struct {
	calls []string
}

func (r *recorder) call(s string) { r.calls = append(r.calls, s) }

func (r *recorder) List(_ context.Context, o engine.ListOptions) ([]imagetypes.Summary, error) {
	r.call("list " + strings.Join(o.Filters["reference"], ","))
	return []imagetypes.Summary{}, nil
}
func (r *recorder) Inspect(_ context.Context, ref string) (imagetypes.InspectResponse, error) {
	r.call("inspect " + ref)
	if ref == "missing" {
		return imagetypes.InspectResponse{}, errdefs.NotFoundf("No such image: missing:latest")
	}
	return imagetypes.InspectResponse{ID: "sha256:x"}, nil
}
func (r *recorder) History(_ context.Context, ref string) ([]imagetypes.HistoryResponseItem, error) {
	r.call("history " + ref)
	return nil, nil
}
func (r *recorder) Tag(_ context.Context, source, repo, tag string) error {
	r.call("tag " + source + " " + repo + " " + tag)
	return nil
}
func (r *recorder) Remove(_ context.Context, ref string, o engine.RemoveOptions) ([]imagetypes.DeleteResponse, error) {
	r.call("remove " + ref)
	return nil, nil
}
func (r *recorder) Prune(context.Context, map[string][]string) (imagetypes.PruneReport, error) {
	return imagetypes.PruneReport{}, nil
}
func (r *recorder) Load(context.Context, io.Reader) ([]string, error) {
	return []string{"Loaded image: a:1"}, nil
}
func (r *recorder) CheckSave(_ context.Context, refs []string) error {
	r.call("checksave " + strings.Join(refs, ","))
	return nil
}
func (r *recorder) Save(context.Context, []string, io.Writer) error { return nil }
func (r *recorder) Import(_ context.Context, _ io.Reader, o engine.ImportOptions) (string, error) {
	r.call("import " + o.Repo + " " + strings.Join(o.Changes, ";"))
	return "sha256:imported", nil
}
func (r *recorder) Commit(_ context.Context, o engine.CommitOptions) (string, error) {
	r.call("commit " + o.Container)
	return "sha256:c", nil
}
func (r *recorder) Changes(context.Context, string) ([]containertypes.FilesystemChange, error) {
	return nil, nil
}
func (r *recorder) Export(context.Context, string, io.Writer) error { return nil }
func (r *recorder) DiskUsage(context.Context, engine.DiskUsageOptions) (system.DiskUsage, error) {
	return system.DiskUsage{ImageUsage: &imagetypes.DiskUsage{TotalSize: 42, Items: []imagetypes.Summary{{ID: "sha256:x"}}}}, nil
}

func serve(t *testing.T, b *recorder, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	srv := apiserver.New(New(b, nil, nil))
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, httptest.NewRequest(method, path, strings.NewReader(body)))
	return w
}

// TestNamesWithSlashes: image names with registry hosts and paths reach
// the backend whole, whatever the suffix.
func TestNamesWithSlashes(t *testing.T) {
	b := &recorder{}
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1.50/images/localhost:5000/a/b:v1/json"},
		{"GET", "/images/localhost:5000/a/b:v1/history"},
		{"POST", "/images/localhost:5000/a/b:v1/tag?repo=x/y&tag=z"},
		{"DELETE", "/images/localhost:5000/a/b:v1"},
		{"GET", "/images/localhost:5000/a/b:v1/get"},
	} {
		if w := serve(t, b, c.method, c.path, ""); w.Code >= 300 {
			t.Errorf("%s %s: %d %s", c.method, c.path, w.Code, w.Body)
		}
	}
	want := "inspect localhost:5000/a/b:v1|history localhost:5000/a/b:v1|tag localhost:5000/a/b:v1 x/y z|remove localhost:5000/a/b:v1|checksave localhost:5000/a/b:v1"
	if got := strings.Join(b.calls, "|"); got != want {
		t.Errorf("calls %s\nwant  %s", got, want)
	}
	if w := serve(t, b, "GET", "/images/busybox/unknown", ""); w.Code != http.StatusNotFound {
		t.Errorf("unknown suffix: %d", w.Code)
	}
	if w := serve(t, b, "GET", "/images/missing/json", ""); w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "No such image: missing:latest") {
		t.Errorf("missing image: %d %s", w.Code, w.Body)
	}
}

// TestPullWithoutPuller: without a registry client, pulls fail clearly.
func TestPullWithoutPuller(t *testing.T) {
	w := serve(t, &recorder{}, "POST", "/images/create?fromImage=busybox&tag=latest", "")
	if w.Code != http.StatusNotImplemented || !strings.Contains(w.Body.String(), "pulling images is not supported") {
		t.Errorf("pull: %d %s", w.Code, w.Body)
	}
	w = serve(t, &recorder{}, "POST", "/images/busybox/push", "")
	if w.Code != http.StatusNotImplemented {
		t.Errorf("push: %d %s", w.Code, w.Body)
	}
}

// TestImportAndLoadStreams: import and load answer with Docker's JSON
// message stream.
func TestImportAndLoadStreams(t *testing.T) {
	b := &recorder{}
	w := serve(t, b, "POST", "/images/create?fromSrc=-&repo=a/b:c&changes=CMD+x&changes=ENV+a=b", "tar")
	if w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != `{"status":"sha256:imported"}` {
		t.Errorf("import: %d %q", w.Code, w.Body)
	}
	if got := b.calls[len(b.calls)-1]; got != "import a/b:c CMD x;ENV a=b" {
		t.Errorf("import call: %q", got)
	}
	w = serve(t, b, "POST", "/images/create?fromSrc=http://example.com/x.tar", "")
	if w.Code != http.StatusNotImplemented {
		t.Errorf("import from a URL: %d", w.Code)
	}
	w = serve(t, b, "POST", "/images/load?quiet=1", "tar")
	if strings.TrimSpace(w.Body.String()) != `{"stream":"Loaded image: a:1\n"}` || w.Header().Get("Content-Type") != "application/json" {
		t.Errorf("load: %q %v", w.Body, w.Header())
	}
}

// TestDiskUsageVersions: API < 1.52 gets the old shape (the lists), newer
// clients the summaries.
func TestDiskUsageVersions(t *testing.T) {
	var old struct {
		LayersSize int64
		Images     []imagetypes.Summary
	}
	w := serve(t, &recorder{}, "GET", "/v1.50/system/df", "")
	if err := json.Unmarshal(w.Body.Bytes(), &old); err != nil || old.LayersSize != 42 || len(old.Images) != 1 {
		t.Errorf("v1.50: %v %s", err, w.Body)
	}
	var du system.DiskUsage
	w = serve(t, &recorder{}, "GET", "/v1.52/system/df?type=image", "")
	if err := json.Unmarshal(w.Body.Bytes(), &du); err != nil || du.ImageUsage == nil || du.ImageUsage.TotalSize != 42 || du.ImageUsage.Items != nil {
		t.Errorf("v1.52: %v %s", err, w.Body)
	}
	if w := serve(t, &recorder{}, "GET", "/system/df?type=bogus", ""); w.Code != http.StatusBadRequest {
		t.Errorf("unknown type: %d", w.Code)
	}
}
