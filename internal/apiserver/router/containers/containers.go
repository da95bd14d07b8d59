package containers

import (
	"context"
	"log"
	"net/http"
	"strconv"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/internal/apiserver/router"
	engine "github.com/berth-project/berth/internal/engine/containers"
	"github.com/berth-project/berth/internal/errdefs"
)

// Router serves the container endpoints.
type Router struct {
	b Backend
}

// New returns the container router over b.
func New(b Backend) *Router { return &Router{b: b} }

// Routes implements router.Router.
func (rt *Router) Routes() []router.Route {
	return []router.Route{
		{Method: http.MethodPost, Path: "/containers/create", Handler: rt.create},
		{Method: http.MethodGet, Path: "/containers/json", Handler: rt.list},
		{Method: http.MethodPost, Path: "/containers/prune", Handler: rt.prune},
		{Method: http.MethodGet, Path: "/containers/{id}/json", Handler: rt.inspect},
		{Method: http.MethodPost, Path: "/containers/{id}/start", Handler: rt.start},
		{Method: http.MethodPost, Path: "/containers/{id}/stop", Handler: rt.stop},
		{Method: http.MethodPost, Path: "/containers/{id}/restart", Handler: rt.restart},
		{Method: http.MethodPost, Path: "/containers/{id}/kill", Handler: rt.kill},
		{Method: http.MethodPost, Path: "/containers/{id}/wait", Handler: rt.wait},
		{Method: http.MethodDelete, Path: "/containers/{id}", Handler: rt.remove},
		{Method: http.MethodPost, Path: "/containers/{id}/pause", Handler: rt.pause},
		{Method: http.MethodPost, Path: "/containers/{id}/update", Handler: rt.update},
		{Method: http.MethodPost, Path: "/containers/{id}/unpause", Handler: rt.unpause},
		{Method: http.MethodPost, Path: "/containers/{id}/rename", Handler: rt.rename},
		{Method: http.MethodGet, Path: "/containers/{id}/top", Handler: rt.top},
		{Method: http.MethodGet, Path: "/containers/{id}/stats", Handler: rt.stats},
		{Method: http.MethodGet, Path: "/containers/{id}/logs", Handler: rt.logs},
		{Method: http.MethodPost, Path: "/containers/{id}/attach", Handler: rt.attach},
		{Method: http.MethodPost, Path: "/containers/{id}/resize", Handler: rt.resize},
		{Method: http.MethodPost, Path: "/containers/{id}/exec", Handler: rt.execCreate},
		{Method: http.MethodHead, Path: "/containers/{id}/archive", Handler: rt.archiveHead},
		{Method: http.MethodGet, Path: "/containers/{id}/archive", Handler: rt.archiveGet},
		{Method: http.MethodPut, Path: "/containers/{id}/archive", Handler: rt.archivePut},
		{Method: http.MethodPost, Path: "/exec/{id}/start", Handler: rt.execStart},
		{Method: http.MethodGet, Path: "/exec/{id}/json", Handler: rt.execInspect},
		{Method: http.MethodPost, Path: "/exec/{id}/resize", Handler: rt.execResize},
	}
}

func (rt *Router) create(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	var req container.CreateRequest
	if err := router.DecodeJSON(r, &req); err != nil {
		return err
	}
	if req.Config == nil {
		return errdefs.InvalidArgumentf("config cannot be empty in order to create a container")
	}
	res, err := rt.b.Create(ctx, r.URL.Query().Get("name"), req.Config, req.HostConfig, req.NetworkingConfig)
	if err != nil {
		return err
	}
	warnings := res.Warnings
	if warnings == nil {
		warnings = []string{}
	}
	return router.WriteJSON(w, http.StatusCreated, container.CreateResponse{ID: res.ID, Warnings: warnings})
}

func (rt *Router) list(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	filters, err := router.Filters(r)
	if err != nil {
		return err
	}
	limit, err := router.IntValue(r, "limit", 0)
	if err != nil {
		return err
	}
	list, err := rt.b.ListSummaries(ctx, engine.ListOptions{All: router.BoolValue(r, "all"), Limit: limit, Filters: filters})
	if err != nil {
		return err
	}
	return router.WriteJSON(w, http.StatusOK, list)
}

func (rt *Router) prune(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	filters, err := router.Filters(r)
	if err != nil {
		return err
	}
	rep, err := rt.b.Prune(ctx, filters)
	if err != nil {
		return err
	}
	if rep.ContainersDeleted == nil {
		rep.ContainersDeleted = []string{}
	}
	return router.WriteJSON(w, http.StatusOK, rep)
}

func (rt *Router) inspect(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	resp, err := rt.b.Inspect(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	return router.WriteJSON(w, http.StatusOK, resp)
}

func (rt *Router) start(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	if err := rt.b.Start(ctx, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func timeoutParam(r *http.Request) (*int, error) {
	v := r.URL.Query().Get("t")
	if v == "" {
		v = r.URL.Query().Get("timeout")
	}
	if v == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return nil, errdefs.InvalidArgumentf("invalid value for t: %q", v)
	}
	return &n, nil
}

func (rt *Router) stop(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	t, err := timeoutParam(r)
	if err != nil {
		return err
	}
	if err := rt.b.Stop(ctx, r.PathValue("id"), r.URL.Query().Get("signal"), t); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (rt *Router) restart(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	t, err := timeoutParam(r)
	if err != nil {
		return err
	}
	if err := rt.b.Restart(ctx, r.PathValue("id"), r.URL.Query().Get("signal"), t); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (rt *Router) kill(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	if err := rt.b.Kill(ctx, r.PathValue("id"), r.URL.Query().Get("signal")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// wait answers the headers as soon as the wait is registered, so that a
// client may start the container next, then the result.
func (rt *Router) wait(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	ch, err := rt.b.Wait(ctx, r.PathValue("id"), container.WaitCondition(r.URL.Query().Get("condition")))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	res := <-ch
	resp := container.WaitResponse{StatusCode: int64(res.ExitCode)}
	if res.Err != nil {
		resp.Error = &container.WaitExitError{Message: res.Err.Error()}
	}
	return writeJSONBody(w, resp)
}

func (rt *Router) remove(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	opts := engine.RemoveOptions{Force: router.BoolValue(r, "force"), RemoveVolumes: router.BoolValue(r, "v")}
	if router.BoolValue(r, "link") {
		return errdefs.InvalidArgumentf("links are not supported")
	}
	if err := rt.b.Remove(ctx, r.PathValue("id"), opts); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (rt *Router) update(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	var upd container.UpdateConfig
	if err := router.DecodeJSON(r, &upd); err != nil {
		return err
	}
	warnings, err := rt.b.Update(ctx, r.PathValue("id"), upd)
	if err != nil {
		return err
	}
	return router.WriteJSON(w, http.StatusOK, container.UpdateResponse{Warnings: warnings})
}

func (rt *Router) pause(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	if err := rt.b.Pause(ctx, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (rt *Router) unpause(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	if err := rt.b.Unpause(ctx, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (rt *Router) rename(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	if err := rt.b.Rename(ctx, r.PathValue("id"), r.URL.Query().Get("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (rt *Router) top(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	resp, err := rt.b.Top(ctx, r.PathValue("id"), r.URL.Query().Get("ps_args"))
	if err != nil {
		return err
	}
	return router.WriteJSON(w, http.StatusOK, resp)
}

func (rt *Router) logs(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	opts := engine.LogsOptions{
		Stdout:     router.BoolValue(r, "stdout"),
		Stderr:     router.BoolValue(r, "stderr"),
		Follow:     router.BoolValue(r, "follow"),
		Timestamps: router.BoolValue(r, "timestamps"),
		Tail:       -1,
	}
	if t := q.Get("tail"); t != "" && t != "all" {
		n, err := strconv.Atoi(t)
		if err != nil {
			return errdefs.InvalidArgumentf("invalid tail: %q", t)
		}
		opts.Tail = n
	}
	var err error
	if opts.Since, err = parseTime(q.Get("since")); err != nil {
		return err
	}
	if opts.Until, err = parseTime(q.Get("until")); err != nil {
		return err
	}
	id := r.PathValue("id")
	tty, err := rt.b.IsTTY(id)
	if err != nil {
		return err
	}
	if !opts.Stdout && !opts.Stderr {
		return errdefs.InvalidArgumentf("Bad parameters: you must choose at least one stream")
	}
	ctype := "application/vnd.docker.multiplexed-stream"
	if tty {
		ctype = "application/vnd.docker.raw-stream"
	}
	// The status is sent with the first output, so that an error found
	// before it (a driver that cannot be read) gets its own status.
	lw := &lazyStream{w: w, ctype: ctype}
	flush := func() {
		lw.start()
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	if err := rt.b.Logs(ctx, id, opts, lw, flush); err != nil && !lw.started {
		return err
	}
	return nil
}

// lazyStream writes the 200 status and content type before its first
// byte.
type lazyStream struct {
	w       http.ResponseWriter
	ctype   string
	started bool
}

func (l *lazyStream) start() {
	if !l.started {
		l.started = true
		l.w.Header().Set("Content-Type", l.ctype)
		l.w.WriteHeader(http.StatusOK)
	}
}

func (l *lazyStream) Write(p []byte) (int, error) {
	l.start()
	return l.w.Write(p)
}

// parseTime parses Docker's since/until: unix seconds with optional
// fraction, or RFC 3339.
func parseTime(v string) (time.Time, error) {
	if v == "" || v == "0" {
		return time.Time{}, nil
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)), nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.RFC3339, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errdefs.InvalidArgumentf("invalid time %q", v)
}

func (rt *Router) attach(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	tty, err := rt.b.IsTTY(id)
	if err != nil {
		return err
	}
	opts := engine.AttachOptions{
		Stdin:  router.BoolValue(r, "stdin"),
		Stdout: router.BoolValue(r, "stdout"),
		Stderr: router.BoolValue(r, "stderr"),
		Stream: router.BoolValue(r, "stream"),
		Logs:   router.BoolValue(r, "logs"),
	}
	var conn router.Conn
	hijack := func() (engine.ClientConn, error) {
		var err error
		conn, err = router.Hijack(w, r, !tty)
		return conn, err
	}
	// A hijacked request's context ends at the hijack; the connection
	// itself tells when the client leaves.
	err = rt.b.Attach(context.WithoutCancel(ctx), id, opts, hijack)
	if conn == nil {
		return err
	}
	defer conn.Close()
	if err != nil {
		log.Printf("attach %s: %v", id, err)
	}
	return nil
}

func (rt *Router) resize(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	return resizeWith(w, r, func(h, wd uint16) error { return rt.b.Resize(ctx, r.PathValue("id"), h, wd) })
}

// resizeWith parses the h and w query parameters of a resize request
// (container or exec) and applies them with resize.
func resizeWith(w http.ResponseWriter, r *http.Request, resize func(h, wd uint16) error) error {
	h, err := router.IntValue(r, "h", 0)
	if err != nil {
		return err
	}
	wd, err := router.IntValue(r, "w", 0)
	if err != nil {
		return err
	}
	if err := resize(uint16(h), uint16(wd)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (rt *Router) stats(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	stream := r.URL.Query().Get("stream") == "" || router.BoolValue(r, "stream")
	wrote := false
	send := func(st container.StatsResponse) error {
		if !wrote {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			wrote = true
		}
		if err := writeJSONBody(w, st); err != nil {
			return err
		}
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		return nil
	}
	return rt.b.Stats(ctx, r.PathValue("id"), stream, router.BoolValue(r, "one-shot"), send)
}
