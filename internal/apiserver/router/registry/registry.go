// Package registry serves POST /auth, the login check of `docker login`.
// (Pull and push are POST /images/create and /images/{name}/push, served
// by the image router through its Puller and Pusher.)
package registry

import (
	"context"
	"net/http"

	"github.com/moby/moby/api/types/registry"

	"github.com/berth-project/berth/internal/apiserver/router"
)

// Backend checks credentials against a registry.
type Backend interface {
	Login(ctx context.Context, auth registry.AuthConfig) (registry.AuthResponse, error)
}

// Router serves the registry endpoints.
type Router struct{ b Backend }

// New returns the registry router over b.
func New(b Backend) *Router { return &Router{b: b} }

// Routes implements router.Router.
func (rt *Router) Routes() []router.Route {
	return []router.Route{{Method: http.MethodPost, Path: "/auth", Handler: rt.auth}}
}

func (rt *Router) auth(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	var auth registry.AuthConfig
	if err := router.DecodeJSON(r, &auth); err != nil {
		return err
	}
	resp, err := rt.b.Login(ctx, auth)
	if err != nil {
		return err
	}
	return router.WriteJSON(w, http.StatusOK, resp)
}
