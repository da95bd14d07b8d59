// Package volumes serves the /volumes endpoints.
package volumes

import (
	"context"
	"net/http"

	"github.com/moby/moby/api/types/volume"

	"github.com/berth-project/berth/internal/apiserver/router"
)

// Backend is what the volume routes need from the engine.
type Backend interface {
	Create(ctx context.Context, req volume.CreateRequest) (volume.Volume, error)
	Inspect(ctx context.Context, name string) (volume.Volume, error)
	List(ctx context.Context, filters map[string][]string) (volume.ListResponse, error)
	Remove(ctx context.Context, name string, force bool) error
	Prune(ctx context.Context, filters map[string][]string) (volume.PruneReport, error)
}

// Router serves the volume endpoints.
type Router struct{ b Backend }

// New returns the volume router over b.
func New(b Backend) *Router { return &Router{b: b} }

// Routes implements router.Router.
func (rt *Router) Routes() []router.Route {
	return []router.Route{
		{Method: http.MethodGet, Path: "/volumes", Handler: router.Filtered(rt.b.List)},
		{Method: http.MethodPost, Path: "/volumes/create", Handler: rt.create},
		{Method: http.MethodPost, Path: "/volumes/prune", Handler: router.Filtered(rt.b.Prune)},
		{Method: http.MethodGet, Path: "/volumes/{name}", Handler: rt.inspect},
		{Method: http.MethodDelete, Path: "/volumes/{name}", Handler: rt.remove},
	}
}

func (rt *Router) create(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	var req volume.CreateRequest
	if err := router.DecodeJSON(r, &req); err != nil {
		return err
	}
	v, err := rt.b.Create(ctx, req)
	if err != nil {
		return err
	}
	return router.WriteJSON(w, http.StatusCreated, v)
}

func (rt *Router) inspect(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	v, err := rt.b.Inspect(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	return router.WriteJSON(w, http.StatusOK, v)
}

func (rt *Router) remove(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	if err := rt.b.Remove(ctx, r.PathValue("name"), router.BoolValue(r, "force")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
