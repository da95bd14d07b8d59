package build

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	buildtypes "github.com/moby/moby/api/types/build"
	digest "github.com/opencontainers/go-digest"

	"github.com/berth-project/berth/internal/apiserver"
	enginebuild "github.com/berth-project/berth/internal/engine/build"
	"github.com/berth-project/berth/internal/errdefs"
)

type fakeBackend struct {
	got enginebuild.Request
	out string // progress the build writes
	err error
}

type exitErr struct{ code int }

func (e exitErr) Error() string {
	return fmt.Sprintf("The command 'x' returned a non-zero code: %d", e.code)
}
func (e exitErr) ExitCode() int { return e.code }

func (f *fakeBackend) Build(ctx context.Context, req enginebuild.Request, out io.Writer) (enginebuild.Result, error) {
	f.got = req
	if f.out != "" {
		io.WriteString(out, f.out)
	}
	if f.err != nil {
		return enginebuild.Result{}, f.err
	}
	return enginebuild.Result{ID: digest.FromString("img"), Tags: []string{"docker.io/library/x:latest"}}, nil
}

func (f *fakeBackend) Prune(ctx context.Context, o enginebuild.PruneOptions) (buildtypes.CachePruneReport, error) {
	return buildtypes.CachePruneReport{CachesDeleted: []string{"a"}, SpaceReclaimed: 3}, nil
}

func post(t *testing.T, b Backend, query string, hdr map[string]string) *http.Response {
	t.Helper()
	srv := httptest.NewServer(apiserver.New(New(b)))
	t.Cleanup(srv.Close)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1.47/build?"+query, strings.NewReader("tar"))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func messages(t *testing.T, r io.Reader) []map[string]any {
	t.Helper()
	var out []map[string]any
	dec := json.NewDecoder(r)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
}

func TestBuildQueryAndStream(t *testing.T) {
	b := &fakeBackend{out: "Step 1/1 : FROM x\n"}
	secrets, _ := json.Marshal(map[string][]byte{"tok": []byte("v")})
	resp := post(t, b, "t=a&t=b:1&dockerfile=D&buildargs=%7B%22K%22%3A%22V%22%7D&labels=%7B%22l%22%3A%221%22%7D&target=s&nocache=1&networkmode=none&platform=linux%2Famd64",
		map[string]string{SecretsHeader: base64.URLEncoding.EncodeToString(secrets), "X-Registry-Config": "e30="})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	ms := messages(t, resp.Body)
	g := b.got
	if len(g.Tags) != 2 || g.Dockerfile != "D" || *g.BuildArgs["K"] != "V" || g.Labels["l"] != "1" || g.Target != "s" ||
		!g.NoCache || g.Network != "none" || g.Platform != "linux/amd64" || string(g.Secrets["tok"]) != "v" || g.RegistryConfig != "e30=" {
		t.Errorf("request %+v", g)
	}
	var text strings.Builder
	aux := false
	for _, m := range ms {
		if s, ok := m["stream"].(string); ok {
			text.WriteString(s)
		}
		if a, ok := m["aux"].(map[string]any); ok && a["ID"] == digest.FromString("img").String() {
			aux = true
		}
	}
	if !aux || !strings.Contains(text.String(), "Successfully built "+digest.FromString("img").Encoded()[:12]) || !strings.Contains(text.String(), "Successfully tagged x:latest") {
		t.Errorf("messages %v", ms)
	}
}

func TestBuildErrors(t *testing.T) {
	// Before any progress: an HTTP error with Docker's status.
	resp := post(t, &fakeBackend{err: errdefs.InvalidArgumentf("Dockerfile:2: dockerfile parse error on line 2: unknown instruction: FOO")}, "", nil)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("parse error: status %d", resp.StatusCode)
	}
	// After progress: in the stream, with the RUN's exit code.
	resp = post(t, &fakeBackend{out: "output\n", err: exitErr{3}}, "", nil)
	ms := messages(t, resp.Body)
	last := ms[len(ms)-1]
	detail, _ := last["errorDetail"].(map[string]any)
	if detail == nil || detail["code"] != float64(3) || last["error"] != "The command 'x' returned a non-zero code: 3" {
		t.Errorf("stream error %v", last)
	}
	// q=1 shows the held-back output when the build fails.
	resp = post(t, &fakeBackend{out: "held back\n", err: exitErr{1}}, "q=1", nil)
	ms = messages(t, resp.Body)
	if len(ms) != 2 || ms[0]["stream"] != "held back\n" {
		t.Errorf("quiet failure %v", ms)
	}
	// BuildKit sessions are refused clearly.
	resp = post(t, &fakeBackend{}, "version=2", nil)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusNotImplemented || !strings.Contains(string(body), "DOCKER_BUILDKIT=0") {
		t.Errorf("version=2: %d %s", resp.StatusCode, body)
	}
}
