// Package build serves POST /build (Dockerfile builds from a tar context,
// streaming Docker's JSON progress messages) and POST /build/prune.
package build

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	buildtypes "github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"

	"github.com/berth-project/berth/internal/apiserver/router"
	enginebuild "github.com/berth-project/berth/internal/engine/build"
	"github.com/berth-project/berth/internal/errdefs"
)

// SecretsHeader carries `berth build --secret` values: base64 (URL
// encoding) of a JSON object mapping secret IDs to their bytes.
const SecretsHeader = "X-Berth-Build-Secrets"

// Backend is what the build routes need.
type Backend interface {
	Build(ctx context.Context, req enginebuild.Request, out io.Writer) (enginebuild.Result, error)
	Prune(ctx context.Context, o enginebuild.PruneOptions) (buildtypes.CachePruneReport, error)
}

// Router serves the build endpoints.
type Router struct{ b Backend }

// New returns the build router over b.
func New(b Backend) *Router { return &Router{b: b} }

// Routes implements router.Router.
func (rt *Router) Routes() []router.Route {
	return []router.Route{
		{Method: http.MethodPost, Path: "/build", Handler: rt.build},
		{Method: http.MethodPost, Path: "/build/prune", Handler: rt.prune},
		{Method: http.MethodPost, Path: "/build/cancel", Handler: rt.cancel},
	}
}

// output writes Docker's JSON messages; nothing reaches the client before
// the first message, so an error before any progress is an HTTP error.
type output struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	started bool
	quiet   bool
	buf     bytes.Buffer // progress held back by q=1, shown on failure
}

func (o *output) send(m jsonstream.Message, extra map[string]any) error {
	if !o.started {
		o.w.Header().Set("Content-Type", "application/json")
		o.w.WriteHeader(http.StatusOK)
		o.started = true
	}
	var b []byte
	var err error
	if extra == nil {
		b, err = json.Marshal(m)
	} else {
		raw, _ := json.Marshal(m)
		obj := map[string]any{}
		_ = json.Unmarshal(raw, &obj)
		for k, v := range extra {
			obj[k] = v
		}
		b, err = json.Marshal(obj)
	}
	if err != nil {
		return err
	}
	if _, err := o.w.Write(append(b, '\r', '\n')); err != nil {
		return err
	}
	if f, ok := o.w.(http.Flusher); ok {
		f.Flush()
	}
	return nil
}

// Write sends progress text as a {"stream": ...} message.
func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.quiet {
		return o.buf.Write(p)
	}
	if err := o.send(jsonstream.Message{Stream: string(p)}, nil); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (o *output) stream(s string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.send(jsonstream.Message{Stream: s}, nil)
}

func (o *output) aux(v any) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	rm := json.RawMessage(raw)
	return o.send(jsonstream.Message{Aux: &rm}, nil)
}

// fail reports err in the stream (with Docker's legacy "error" field too);
// code is a failing RUN's exit status.
func (o *output) fail(err error) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.quiet && o.buf.Len() > 0 {
		if e := o.send(jsonstream.Message{Stream: o.buf.String()}, nil); e != nil {
			return e
		}
		o.buf.Reset()
	}
	code := 0
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		code = ec.ExitCode()
	}
	return o.send(jsonstream.Message{Error: &jsonstream.Error{Code: code, Message: err.Error()}}, map[string]any{"error": err.Error()})
}

func (rt *Router) build(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	req := enginebuild.Request{
		Context:    r.Body,
		Dockerfile: q.Get("dockerfile"),
		Remote:     q.Get("remote"),
		Tags:       q["t"],
		Target:     q.Get("target"),
		NoCache:    router.BoolValue(r, "nocache"),
		Pull:       router.BoolValue(r, "pull"),
		Network:    q.Get("networkmode"),
		Platform:   q.Get("platform"),
		// Registry credentials for pulling base images.
		RegistryConfig: r.Header.Get("X-Registry-Config"),
	}
	if v := q.Get("version"); v == string(buildtypes.BuilderBuildKit) {
		return errdefs.NotImplemented(errors.New("BuildKit sessions are not supported by berth: build with DOCKER_BUILDKIT=0 (berth builds Dockerfiles itself)"))
	}
	if v := q.Get("buildargs"); v != "" {
		if err := json.Unmarshal([]byte(v), &req.BuildArgs); err != nil {
			return errdefs.InvalidArgumentf("invalid buildargs: %v", err)
		}
	}
	if v := q.Get("labels"); v != "" {
		if err := json.Unmarshal([]byte(v), &req.Labels); err != nil {
			return errdefs.InvalidArgumentf("invalid labels: %v", err)
		}
	}
	if v := q.Get("outputs"); v != "" {
		var outs []struct {
			Type  string
			Attrs map[string]string
		}
		if err := json.Unmarshal([]byte(v), &outs); err != nil {
			return errdefs.InvalidArgumentf("invalid outputs: %v", err)
		}
		for _, o := range outs {
			switch o.Type {
			case "", "image", "moby", "docker", "oci", "tar", "local":
				// The image is stored; the client exports it (see berth build --output).
			default:
				return errdefs.InvalidArgumentf("unsupported output type %q", o.Type)
			}
		}
	}
	if v := r.Header.Get(SecretsHeader); v != "" {
		raw, err := base64.URLEncoding.DecodeString(v)
		if err != nil {
			return errdefs.InvalidArgumentf("invalid %s header: %v", SecretsHeader, err)
		}
		if err := json.Unmarshal(raw, &req.Secrets); err != nil {
			return errdefs.InvalidArgumentf("invalid %s header: %v", SecretsHeader, err)
		}
	}
	out := &output{w: w, quiet: router.BoolValue(r, "q")}
	res, err := rt.b.Build(ctx, req, out)
	if err != nil {
		if !out.started && (!out.quiet || out.buf.Len() == 0) {
			return err
		}
		return out.fail(err)
	}
	if err := out.aux(buildtypes.Result{ID: res.ID.String()}); err != nil {
		return err
	}
	if out.quiet {
		return out.stream(res.ID.String() + "\n")
	}
	if _, err := fmt.Fprintf(out, "Successfully built %s\n", res.ID.Encoded()[:12]); err != nil {
		return err
	}
	for _, t := range res.Tags {
		if _, err := fmt.Fprintf(out, "Successfully tagged %s\n", familiarTag(t)); err != nil {
			return err
		}
	}
	return nil
}

// familiarTag prints docker.io/library/x:y as x:y.
func familiarTag(t string) string {
	t = strings.TrimPrefix(t, "docker.io/")
	return strings.TrimPrefix(t, "library/")
}

func (rt *Router) prune(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	o := enginebuild.PruneOptions{All: router.BoolValue(r, "all")}
	for _, k := range []string{"reserved-space", "keep-storage", "max-used-space"} {
		n, err := router.IntValue(r, k, 0)
		if err != nil {
			return err
		}
		if n > 0 {
			o.KeepStorage = int64(n)
		}
	}
	f, err := router.Filters(r)
	if err != nil {
		return err
	}
	for k, vals := range f {
		switch k {
		case "until", "unused-for":
			for _, v := range vals {
				d, err := time.ParseDuration(v)
				if err != nil {
					return errdefs.InvalidArgumentf("invalid %s filter %q: %v", k, v, err)
				}
				o.Until = d
			}
		default:
			return errdefs.InvalidArgumentf("invalid filter %q", k)
		}
	}
	rep, err := rt.b.Prune(ctx, o)
	if err != nil {
		return err
	}
	return router.WriteJSON(w, http.StatusOK, rep)
}

// cancel accepts Docker's build cancel call; a build ends when its
// request does.
func (rt *Router) cancel(_ context.Context, w http.ResponseWriter, _ *http.Request) error {
	w.WriteHeader(http.StatusOK)
	return nil
}
