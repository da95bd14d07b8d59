// Package system serves /_ping, /version and /info.
package system

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/system"

	"github.com/berth-project/berth/internal/apiserver/router"
	"github.com/berth-project/berth/internal/errdefs"
)

// Backend is what the system routes need from the engine.
type Backend interface {
	Info(ctx context.Context) (system.Info, error)
	Version(ctx context.Context) (system.VersionResponse, error)
	// SubscribeEvents returns the events since since (none for zero),
	// the live ones, and how to unsubscribe.
	SubscribeEvents(since time.Time) (past []events.Message, live <-chan events.Message, cancel func())
	MatchEvent(m events.Message, filters map[string][]string) bool
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
		{Method: http.MethodGet, Path: "/events", Handler: s.events},
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

// events streams event messages, one JSON object per line, until until
// (if given) or the client leaves.
func (s *Router) events(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	since, err := eventTime(r.URL.Query().Get("since"))
	if err != nil {
		return err
	}
	until, err := eventTime(r.URL.Query().Get("until"))
	if err != nil {
		return err
	}
	filters, err := router.Filters(r)
	if err != nil {
		return err
	}
	past, live, cancel := s.backend.SubscribeEvents(since)
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	enc := json.NewEncoder(w)
	send := func(m events.Message) (bool, error) {
		if !until.IsZero() && m.TimeNano > until.UnixNano() {
			return false, nil
		}
		if !s.backend.MatchEvent(m, filters) {
			return true, nil
		}
		if err := enc.Encode(m); err != nil {
			return false, err
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true, nil
	}
	for _, m := range past {
		if more, err := send(m); !more {
			return err
		}
	}
	var deadline <-chan time.Time
	if !until.IsZero() {
		d := time.Until(until)
		if d <= 0 {
			return nil
		}
		t := time.NewTimer(d)
		defer t.Stop()
		deadline = t.C
	}
	for {
		select {
		case m := <-live:
			if more, err := send(m); !more {
				return err
			}
		case <-deadline:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// eventTime parses since/until: unix seconds with an optional fraction.
func eventTime(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		if t, terr := time.Parse(time.RFC3339Nano, v); terr == nil {
			return t, nil
		}
		return time.Time{}, errdefs.InvalidArgumentf("invalid time %q", v)
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), nil
}
