// Package system serves /_ping, /version and /info.
package system

import (
	"context"
	"net/http"

	"github.com/moby/moby/api/types/system"

	"github.com/berth-project/berth/internal/apiserver/router"
)

// Backend is what the system routes need from the engine.
type Backend interface {
	Info(ctx context.Context) (system.Info, error)
	Version(ctx context.Context) (system.VersionResponse, error)
}

// Router serves the system endpoints.
type Router struct {
	backend Backend
}

// New returns the system router over b.
func New(b Backend) *Router { return &Router{backend: b} }

// Routes implements router.Router.
func (s *Router) Routes() []router.Route {
	return []router.Route{
		{Method: http.MethodGet, Path: "/_ping", Handler: s.ping},
		{Method: http.MethodHead, Path: "/_ping", Handler: s.ping},
		{Method: http.MethodGet, Path: "/version", Handler: s.version},
		{Method: http.MethodGet, Path: "/info", Handler: s.info},
	}
}

func (s *Router) ping(_ context.Context, w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-cache, no-store, must-revalidate")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, err := w.Write([]byte("OK"))
		return err
	}
	return nil
}

func (s *Router) version(ctx context.Context, w http.ResponseWriter, _ *http.Request) error {
	v, err := s.backend.Version(ctx)
	if err != nil {
		return err
	}
	return router.WriteJSON(w, http.StatusOK, v)
}

func (s *Router) info(ctx context.Context, w http.ResponseWriter, _ *http.Request) error {
	info, err := s.backend.Info(ctx)
	if err != nil {
		return err
	}
	return router.WriteJSON(w, http.StatusOK, info)
}
