package images

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/moby/moby/api/types/build"
	containertypes "github.com/moby/moby/api/types/container"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/volume"

	"github.com/berth-project/berth/internal/apiserver/router"
	engine "github.com/berth-project/berth/internal/engine/images"
	"github.com/berth-project/berth/internal/errdefs"
)

// Router serves the image endpoints.
type Router struct {
	b      Backend
	puller Puller
	pusher Pusher
}

// New returns the image router over b. puller and pusher may be nil:
// pulls and pushes then fail with a clear error.
func New(b Backend, puller Puller, pusher Pusher) *Router {
	return &Router{b: b, puller: puller, pusher: pusher}
}

// Routes implements router.Router. Image names contain slashes, so
// /images/{name}/json, /history, /get, /tag and /push are served by one
// route per method that splits the suffix off.
func (rt *Router) Routes() []router.Route {
	return []router.Route{
		{Method: http.MethodGet, Path: "/images/json", Handler: rt.list},
		{Method: http.MethodGet, Path: "/images/get", Handler: rt.save},
		{Method: http.MethodPost, Path: "/images/load", Handler: rt.load},
		{Method: http.MethodPost, Path: "/images/create", Handler: rt.create},
		{Method: http.MethodPost, Path: "/images/prune", Handler: router.Filtered(rt.b.Prune)},
		{Method: http.MethodGet, Path: "/images/{name...}", Handler: rt.getImage},
		{Method: http.MethodPost, Path: "/images/{name...}", Handler: rt.postImage},
		{Method: http.MethodDelete, Path: "/images/{name...}", Handler: rt.remove},
		{Method: http.MethodPost, Path: "/commit", Handler: rt.commit},
		{Method: http.MethodGet, Path: "/containers/{id}/changes", Handler: rt.changes},
		{Method: http.MethodGet, Path: "/containers/{id}/export", Handler: rt.export},
		{Method: http.MethodGet, Path: "/system/df", Handler: rt.diskUsage},
	}
}

func pageNotFound() error { return errdefs.NotFoundf("page not found") }

// splitName splits "NAME/SUFFIX" at the last slash.
func splitName(rest string) (name, suffix string) {
	i := strings.LastIndex(rest, "/")
	if i < 0 {
		return rest, ""
	}
	return rest[:i], rest[i+1:]
}

func (rt *Router) getImage(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	name, suffix := splitName(r.PathValue("name"))
	if name == "" {
		return pageNotFound()
	}
	switch suffix {
	case "json":
		resp, err := rt.b.Inspect(ctx, name)
		if err != nil {
			return err
		}
		return router.WriteJSON(w, http.StatusOK, resp)
	case "history":
		items, err := rt.b.History(ctx, name)
		if err != nil {
			return err
		}
		return router.WriteJSON(w, http.StatusOK, items)
	case "get":
		return rt.saveNames(ctx, w, []string{name})
	}
	return pageNotFound()
}

func (rt *Router) postImage(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	name, suffix := splitName(r.PathValue("name"))
	if name == "" {
		return pageNotFound()
	}
	switch suffix {
	case "tag":
		q := r.URL.Query()
		if err := rt.b.Tag(ctx, name, q.Get("repo"), q.Get("tag")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusCreated)
		return nil
	case "push":
		return rt.push(ctx, w, r, name)
	}
	return pageNotFound()
}

func (rt *Router) list(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	filters, err := router.Filters(r)
	if err != nil {
		return err
	}
	// API < 1.41 took the reference filter as "filter".
	if f := r.URL.Query().Get("filter"); f != "" {
		filters["reference"] = append(filters["reference"], f)
	}
	list, err := rt.b.List(ctx, engine.ListOptions{
		All: router.BoolValue(r, "all"), Filters: filters, SharedSize: router.BoolValue(r, "shared-size"),
	})
	if err != nil {
		return err
	}
	return router.WriteJSON(w, http.StatusOK, list)
}

func (rt *Router) remove(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if name == "" {
		return pageNotFound()
	}
	resp, err := rt.b.Remove(ctx, name, engine.RemoveOptions{Force: router.BoolValue(r, "force"), NoPrune: router.BoolValue(r, "noprune")})
	if err != nil {
		return err
	}
	return router.WriteJSON(w, http.StatusOK, resp)
}

func (rt *Router) save(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	return rt.saveNames(ctx, w, r.URL.Query()["names"])
}

func (rt *Router) saveNames(ctx context.Context, w http.ResponseWriter, names []string) error {
	if err := rt.b.CheckSave(ctx, names); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-tar")
	return rt.b.Save(ctx, names, w)
}

func (rt *Router) load(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	lines, err := rt.b.Load(ctx, r.Body)
	if err != nil {
		return err
	}
	out := newJSONStream(w)
	for _, l := range lines {
		out.send(jsonstream.Message{Stream: l + "\n"})
	}
	return nil
}

// create is POST /images/create: an import (fromSrc) or a pull (fromImage).
func (rt *Router) create(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	switch {
	case q.Get("fromSrc") != "":
		return rt.importImage(ctx, w, r)
	case q.Get("fromImage") != "":
		return rt.pull(ctx, w, r)
	}
	return errdefs.InvalidArgumentf("either fromSrc or fromImage must be given")
}

func (rt *Router) importImage(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if src := q.Get("fromSrc"); src != "-" {
		return errdefs.NotImplemented(fmt.Errorf("importing from a URL (%s) is not supported: send the archive as the request body with fromSrc=-", src))
	}
	id, err := rt.b.Import(ctx, r.Body, engine.ImportOptions{
		Repo: q.Get("repo"), Tag: q.Get("tag"), Message: q.Get("message"), Changes: q["changes"], Platform: q.Get("platform"),
	})
	if err != nil {
		return err
	}
	newJSONStream(w).send(jsonstream.Message{Status: id})
	return nil
}

func (rt *Router) pull(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	if rt.puller == nil {
		return errdefs.NotImplemented(fmt.Errorf("pulling images is not supported by this daemon yet: load them with `docker load` or import a root filesystem"))
	}
	q := r.URL.Query()
	ref := q.Get("fromImage")
	if tag := q.Get("tag"); tag != "" {
		if strings.Contains(tag, ":") {
			ref += "@" + tag
		} else {
			ref += ":" + tag
		}
	}
	out := newJSONStream(w)
	err := rt.puller.Pull(ctx, PullRequest{Ref: ref, Platform: q.Get("platform"), RegistryAuth: r.Header.Get("X-Registry-Auth")}, out)
	return out.finish(err)
}

func (rt *Router) push(ctx context.Context, w http.ResponseWriter, r *http.Request, name string) error {
	if rt.pusher == nil {
		return errdefs.NotImplemented(fmt.Errorf("pushing images is not supported by this daemon yet"))
	}
	ref := name
	if tag := r.URL.Query().Get("tag"); tag != "" {
		ref += ":" + tag
	}
	out := newJSONStream(w)
	err := rt.pusher.Push(ctx, PushRequest{Ref: ref, RegistryAuth: r.Header.Get("X-Registry-Auth")}, out)
	return out.finish(err)
}

func (rt *Router) commit(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var cfg containertypes.Config
	if err := router.DecodeJSON(r, &cfg); err != nil {
		return err
	}
	pause := q.Get("pause") == "" || router.BoolValue(r, "pause")
	opts := engine.CommitOptions{
		Container: q.Get("container"), Repo: q.Get("repo"), Tag: q.Get("tag"),
		Author: q.Get("author"), Comment: q.Get("comment"), Changes: q["changes"], Pause: pause,
	}
	if r.ContentLength != 0 {
		opts.Config = &cfg
	}
	id, err := rt.b.Commit(ctx, opts)
	if err != nil {
		return err
	}
	return router.WriteJSON(w, http.StatusCreated, containertypes.CommitResponse{ID: id})
}

func (rt *Router) changes(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	changes, err := rt.b.Changes(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	return router.WriteJSON(w, http.StatusOK, changes)
}

func (rt *Router) export(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/x-tar")
	return rt.b.Export(ctx, r.PathValue("id"), w)
}

// legacyDiskUsage is GET /system/df's answer before API 1.52: the lists
// themselves, which the client sums up.
type legacyDiskUsage struct {
	LayersSize int64
	Images     []imagetypes.Summary
	Containers []containertypes.Summary
	Volumes    []volume.Volume
	BuildCache []build.CacheRecord
}

func (rt *Router) diskUsage(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	types := r.URL.Query()["type"]
	want := func(t string) bool {
		if len(types) == 0 {
			return true
		}
		for _, x := range types {
			if x == t {
				return true
			}
		}
		return false
	}
	for _, t := range types {
		switch t {
		case "container", "image", "volume", "build-cache":
		default:
			return errdefs.InvalidArgumentf("unknown object type: %s", t)
		}
	}
	opts := engine.DiskUsageOptions{Images: want("image"), Containers: want("container"), Volumes: want("volume"), BuildCache: want("build-cache")}
	du, err := rt.b.DiskUsage(ctx, opts)
	if err != nil {
		return err
	}
	if v := router.Version(ctx); v != "" && versionLess(v, "1.52") {
		var legacy legacyDiskUsage
		if du.ImageUsage != nil {
			legacy.LayersSize, legacy.Images = du.ImageUsage.TotalSize, du.ImageUsage.Items
		}
		if du.ContainerUsage != nil {
			legacy.Containers = du.ContainerUsage.Items
		}
		if du.VolumeUsage != nil {
			legacy.Volumes = du.VolumeUsage.Items
		}
		if du.BuildCacheUsage != nil {
			legacy.BuildCache = du.BuildCacheUsage.Items
		}
		return router.WriteJSON(w, http.StatusOK, legacy)
	}
	if !router.BoolValue(r, "verbose") {
		if du.ImageUsage != nil {
			du.ImageUsage.Items = nil
		}
		if du.ContainerUsage != nil {
			du.ContainerUsage.Items = nil
		}
		if du.VolumeUsage != nil {
			du.VolumeUsage.Items = nil
		}
		if du.BuildCacheUsage != nil {
			du.BuildCacheUsage.Items = nil
		}
	}
	return router.WriteJSON(w, http.StatusOK, du)
}

// versionLess compares "X.Y" API versions.
func versionLess(a, b string) bool {
	var amaj, amin, bmaj, bmin int
	fmt.Sscanf(a, "%d.%d", &amaj, &amin)
	fmt.Sscanf(b, "%d.%d", &bmaj, &bmin)
	return amaj < bmaj || (amaj == bmaj && amin < bmin)
}

// jsonStream writes Docker's JSON message stream: the response starts
// (200, application/json) with the first message, and each message is
// flushed at once.
type jsonStream struct {
	w       http.ResponseWriter
	started bool
}

func newJSONStream(w http.ResponseWriter) *jsonStream { return &jsonStream{w: w} }

func (s *jsonStream) start() {
	if !s.started {
		s.started = true
		s.w.Header().Set("Content-Type", "application/json")
		s.w.WriteHeader(http.StatusOK)
	}
}

// Write passes bytes of a message stream through (Puller and Pusher).
func (s *jsonStream) Write(p []byte) (int, error) {
	s.start()
	n, err := s.w.Write(p)
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
	return n, err
}

func (s *jsonStream) send(m jsonstream.Message) {
	b, _ := json.Marshal(m)
	s.Write(append(b, '\r', '\n'))
}

// finish ends a stream with err: as the HTTP answer if nothing was
// written yet, else as a JSON error message.
func (s *jsonStream) finish(err error) error {
	if err == nil {
		s.start()
		return nil
	}
	if !s.started {
		return err
	}
	s.send(jsonstream.Message{Error: &jsonstream.Error{Code: errdefs.HTTPStatus(err), Message: err.Error()}})
	return nil
}
