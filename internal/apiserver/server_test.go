package apiserver

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/system"

	"github.com/berth-project/berth/internal/apiserver/router"
	systemrouter "github.com/berth-project/berth/internal/apiserver/router/system"
	"github.com/berth-project/berth/internal/errdefs"
)

type fakeSystem struct{}

func (fakeSystem) Info(context.Context) (system.Info, error) {
	return system.Info{}, errdefs.Unavailable(context.DeadlineExceeded)
}

func (fakeSystem) Version(context.Context) (system.VersionResponse, error) {
	return system.VersionResponse{APIVersion: APIVersion, MinAPIVersion: MinAPIVersion}, nil
}

func (fakeSystem) SubscribeEvents(time.Time) ([]events.Message, <-chan events.Message, func()) {
	return nil, nil, func() {}
}

func (fakeSystem) MatchEvent(events.Message, map[string][]string) bool { return true }

type echoVersion struct{}

func (echoVersion) Routes() []router.Route {
	return []router.Route{{Method: http.MethodGet, Path: "/echo/{x}", Handler: func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		return router.WriteJSON(w, http.StatusOK, map[string]string{"version": router.Version(ctx), "x": r.PathValue("x")})
	}}}
}

func TestServer(t *testing.T) {
	srv := httptest.NewServer(New(systemrouter.New(fakeSystem{}), echoVersion{}))
	defer srv.Close()
	get := func(path string) (*http.Response, map[string]any) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return resp, body
	}
	resp, _ := get("/_ping")
	if resp.StatusCode != 200 || resp.Header.Get("Api-Version") != APIVersion {
		t.Fatalf("ping: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, body := get("/v1.41/echo/a"); resp.StatusCode != 200 || body["version"] != "1.41" || body["x"] != "a" {
		t.Fatalf("versioned route: %d %v", resp.StatusCode, body)
	}
	if resp, body := get("/v1.12/version"); resp.StatusCode != 400 || body["message"] == nil {
		t.Fatalf("too old: %d %v", resp.StatusCode, body)
	}
	if resp, _ := get("/v9.99/version"); resp.StatusCode != 400 {
		t.Fatalf("too new: %d", resp.StatusCode)
	}
	if resp, body := get("/v1.44/version"); resp.StatusCode != 200 || body["ApiVersion"] != APIVersion || body["MinAPIVersion"] != MinAPIVersion {
		t.Fatalf("version: %d %v", resp.StatusCode, body)
	}
	if resp, _ := get("/info"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("errdefs mapping: %d", resp.StatusCode)
	}
	if resp, body := get("/no/such/page"); resp.StatusCode != 404 || body["message"] != "page not found" {
		t.Fatalf("unknown route: %d %v", resp.StatusCode, body)
	}
}

func TestFilters(t *testing.T) {
	r := httptest.NewRequest("GET", `/x?filters={"label":{"a=b":true},"status":["exited"]}`, nil)
	f, err := router.Filters(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(f["label"]) != 1 || f["label"][0] != "a=b" || f["status"][0] != "exited" {
		t.Fatalf("filters %v", f)
	}
}
