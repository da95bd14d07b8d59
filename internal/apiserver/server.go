// Package apiserver serves the Docker Engine API: it strips the /vX.Y
// prefix, checks the requested version, mounts the routers' routes and turns
// handler errors into Docker's error responses (status via errdefs).
package apiserver

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-project/berth/internal/apiserver/router"
	"github.com/berth-project/berth/internal/errdefs"
)

// The API versions berth speaks.
const (
	APIVersion    = "1.52"
	MinAPIVersion = "1.24"
)

var versionPrefix = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^/v([0-9]+\.[0-9]+)(/.*)$`) }) // compiled on first use, not at every start

// Server is the HTTP side of the daemon.
type Server struct {
	mux  *http.ServeMux
	srv  *http.Server
	logf func(format string, a ...any)
	// base is the parent of request contexts; Shutdown cancels it so that
	// long requests (logs -f, events, wait) end.
	base   context.Context
	cancel context.CancelFunc
}

// New mounts the routes of all routers.
func New(routers ...router.Router) *Server {
	s := &Server{mux: http.NewServeMux(), logf: log.Printf}
	s.base, s.cancel = context.WithCancel(context.Background())
	for _, rt := range routers {
		for _, r := range rt.Routes() {
			s.mux.Handle(r.Method+" "+r.Path, s.wrap(r.Handler))
		}
	}
	// What no route matches (another method too) is Docker's 404; the
	// mux finds a request's route once.
	s.mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errdefs.NotFoundf("page not found"))
	}))
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return s.base },
	}
	return s
}

// ServeHTTP strips and checks the version prefix, then dispatches.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Api-Version", APIVersion)
	w.Header().Set("Server", "berth")
	w.Header().Set("Ostype", "linux")
	w.Header().Set("Docker-Experimental", "false")
	version := APIVersion
	if m := versionPrefix().FindStringSubmatch(r.URL.Path); m != nil {
		version = m[1]
		if versionLess(version, MinAPIVersion) {
			writeError(w, errdefs.InvalidArgumentf("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", version, MinAPIVersion))
			return
		}
		if versionLess(APIVersion, version) {
			writeError(w, errdefs.InvalidArgumentf("client version %s is too new. Maximum supported API version is %s", version, APIVersion))
			return
		}
		r.URL.Path = m[2]
		r.URL.RawPath = ""
	}
	s.mux.ServeHTTP(w, r.WithContext(router.WithVersion(r.Context(), version)))
}

func (s *Server) wrap(h router.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &trackingWriter{ResponseWriter: w}
		if err := h(r.Context(), rw, r); err != nil {
			if rw.wrote || errors.Is(err, http.ErrHijacked) {
				s.logf("%s %s: %v", r.Method, r.URL.Path, err)
				return
			}
			writeError(w, err)
		}
	})
}

// Serve answers requests on l until Shutdown.
func (s *Server) Serve(l net.Listener) error {
	err := s.srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections, ends streaming requests and
// waits for running requests until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.cancel()
	return s.srv.Shutdown(ctx)
}

func writeError(w http.ResponseWriter, err error) {
	status := errdefs.HTTPStatus(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if status == http.StatusNotModified {
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]string{"message": err.Error()})
}

type trackingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (t *trackingWriter) WriteHeader(code int) {
	t.wrote = true
	t.ResponseWriter.WriteHeader(code)
}

func (t *trackingWriter) Write(b []byte) (int, error) {
	t.wrote = true
	return t.ResponseWriter.Write(b)
}

func (t *trackingWriter) Flush() {
	if f, ok := t.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (t *trackingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := t.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, fmt.Errorf("connection cannot be hijacked")
	}
	t.wrote = true
	return hj.Hijack()
}

// versionLess compares "X.Y" API versions numerically.
func versionLess(a, b string) bool {
	pa, pb := strings.SplitN(a, ".", 2), strings.SplitN(b, ".", 2)
	for i := 0; i < 2; i++ {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}
