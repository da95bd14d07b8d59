// Package networks serves the /networks endpoints.
package networks

import (
	"context"
	"net/http"

	"github.com/moby/moby/api/types/network"

	"github.com/berth-project/berth/internal/apiserver/router"
)

// Backend is what the network routes need from the network engine.
type Backend interface {
	Create(ctx context.Context, req network.CreateRequest) (network.CreateResponse, error)
	Inspect(ctx context.Context, ref string) (network.Inspect, error)
	List(ctx context.Context, filters map[string][]string) ([]network.Summary, error)
	Remove(ctx context.Context, ref string) error
	Prune(ctx context.Context, filters map[string][]string) (network.PruneReport, error)
}

// Containers connects containers to networks and disconnects them (the
// container engine owns the records).
type Containers interface {
	Connect(ctx context.Context, network, container string, es *network.EndpointSettings) error
	Disconnect(ctx context.Context, network, container string, force bool) error
}

// Router serves the network endpoints.
type Router struct {
	b Backend
	c Containers
}

// New returns the network router.
func New(b Backend, c Containers) *Router { return &Router{b: b, c: c} }

// Routes implements router.Router.
func (rt *Router) Routes() []router.Route {
	return []router.Route{
		{Method: http.MethodGet, Path: "/networks", Handler: rt.list},
		{Method: http.MethodGet, Path: "/networks/{$}", Handler: rt.list},
		{Method: http.MethodPost, Path: "/networks/create", Handler: rt.create},
		{Method: http.MethodPost, Path: "/networks/prune", Handler: router.Filtered(rt.b.Prune)},
		{Method: http.MethodGet, Path: "/networks/{id}", Handler: rt.inspect},
		{Method: http.MethodDelete, Path: "/networks/{id}", Handler: rt.remove},
		{Method: http.MethodPost, Path: "/networks/{id}/connect", Handler: rt.connect},
		{Method: http.MethodPost, Path: "/networks/{id}/disconnect", Handler: rt.disconnect},
	}
}

func (rt *Router) list(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	f, err := router.Filters(r)
	if err != nil {
		return err
	}
	list, err := rt.b.List(ctx, f)
	if err != nil {
		return err
	}
	if list == nil {
		list = []network.Summary{}
	}
	return router.WriteJSON(w, http.StatusOK, list)
}

func (rt *Router) create(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	var req network.CreateRequest
	if err := router.DecodeJSON(r, &req); err != nil {
		return err
	}
	resp, err := rt.b.Create(ctx, req)
	if err != nil {
		return err
	}
	return router.WriteJSON(w, http.StatusCreated, resp)
}

func (rt *Router) inspect(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	n, err := rt.b.Inspect(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	return router.WriteJSON(w, http.StatusOK, n)
}

func (rt *Router) remove(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	if err := rt.b.Remove(ctx, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (rt *Router) connect(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	var req network.ConnectRequest
	if err := router.DecodeJSON(r, &req); err != nil {
		return err
	}
	if err := rt.c.Connect(ctx, r.PathValue("id"), req.Container, req.EndpointConfig); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (rt *Router) disconnect(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	var req network.DisconnectRequest
	if err := router.DecodeJSON(r, &req); err != nil {
		return err
	}
	if err := rt.c.Disconnect(ctx, r.PathValue("id"), req.Container, req.Force); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
