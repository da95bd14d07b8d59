// Package router holds what every API router shares: the Route type the
// server mounts, and small request/response helpers.
package router

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-project/berth/internal/errdefs"
)

// HandlerFunc serves one API call. A returned error is answered with
// errdefs.HTTPStatus(err) and Docker's {"message": ...} body, unless the
// handler already wrote a response.
type HandlerFunc func(ctx context.Context, w http.ResponseWriter, r *http.Request) error

// Route is one endpoint: a method, a path pattern in net/http's ServeMux
// syntax (without the /vX.Y prefix) and its handler.
type Route struct {
	Method  string
	Path    string
	Handler HandlerFunc
}

// Router is a group of routes for one resource.
type Router interface {
	Routes() []Route
}

type versionKey struct{}

// WithVersion records the API version a request asked for.
func WithVersion(ctx context.Context, v string) context.Context {
	return context.WithValue(ctx, versionKey{}, v)
}

// Version returns the API version the request asked for ("" if none).
func Version(ctx context.Context) string {
	v, _ := ctx.Value(versionKey{}).(string)
	return v
}

// WriteJSON answers with status and v encoded as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// DecodeJSON decodes the request body into v; an empty body leaves v as is.
func DecodeJSON(r *http.Request, v any) error {
	if r.Body == nil || r.ContentLength == 0 {
		return nil
	}
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		if err.Error() == "EOF" {
			return nil
		}
		return errdefs.InvalidArgumentf("invalid JSON body: %v", err)
	}
	return nil
}

// BoolValue reads a query parameter the way Docker does: "", "0", "no",
// "false" and "none" are false, anything else true.
func BoolValue(r *http.Request, name string) bool {
	s := strings.ToLower(strings.TrimSpace(r.URL.Query().Get(name)))
	return !(s == "" || s == "0" || s == "no" || s == "false" || s == "none")
}

// IntValue reads an integer query parameter; def when absent.
func IntValue(r *http.Request, name string, def int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, errdefs.InvalidArgumentf("invalid value for %s: %q", name, s)
	}
	return n, nil
}

// Filters decodes Docker's "filters" query parameter: a JSON object mapping a
// key to either a list of values or a set {value: true}.
func Filters(r *http.Request) (map[string][]string, error) {
	raw := r.URL.Query().Get("filters")
	out := map[string][]string{}
	if raw == "" {
		return out, nil
	}
	var generic map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &generic); err != nil {
		return nil, errdefs.InvalidArgumentf("invalid filters: %v", err)
	}
	for k, v := range generic {
		var list []string
		if err := json.Unmarshal(v, &list); err == nil {
			out[k] = list
			continue
		}
		var set map[string]bool
		if err := json.Unmarshal(v, &set); err != nil {
			return nil, errdefs.InvalidArgumentf("invalid filter %q: %v", k, err)
		}
		for val, on := range set {
			if on {
				out[k] = append(out[k], val)
			}
		}
	}
	return out, nil
}

// Filtered serves a list or prune call: fn's answer for the request's
// filters, as JSON with status 200.
func Filtered[T any](fn func(ctx context.Context, filters map[string][]string) (T, error)) HandlerFunc {
	return func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		f, err := Filters(r)
		if err != nil {
			return err
		}
		v, err := fn(ctx, f)
		if err != nil {
			return err
		}
		return WriteJSON(w, http.StatusOK, v)
	}
}

// Hijack takes over the connection of an attach-style request and answers
// with Docker's upgrade response; the caller owns the returned connection.
func Hijack(w http.ResponseWriter, r *http.Request, multiplexed bool) (Conn, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, fmt.Errorf("connection cannot be hijacked")
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return nil, fmt.Errorf("hijack: %w", err)
	}
	ctype := "application/vnd.docker.raw-stream"
	if multiplexed {
		ctype = "application/vnd.docker.multiplexed-stream"
	}
	if r.Header.Get("Upgrade") != "" {
		fmt.Fprintf(conn, "HTTP/1.1 101 UPGRADED\r\nContent-Type: %s\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n", ctype)
	} else {
		fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n\r\n", ctype)
	}
	return &hijacked{Conn: conn, r: buf.Reader}, nil
}
