package errdefs

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
)

func TestHTTPStatus(t *testing.T) {
	base := errors.New("no such container: x")
	cases := []struct {
		err  error
		want int
	}{
		{nil, http.StatusOK},
		{base, http.StatusInternalServerError},
		{NotFound(base), http.StatusNotFound},
		{fmt.Errorf("start: %w", NotFound(base)), http.StatusNotFound},
		{Conflictf("name %q in use", "a"), http.StatusConflict},
		{InvalidArgumentf("bad"), http.StatusBadRequest},
		{Unavailable(base), http.StatusServiceUnavailable},
		{Forbidden(base), http.StatusForbidden},
		{NotModified(base), http.StatusNotModified},
		{NotImplemented(base), http.StatusNotImplemented},
		{Unauthorized(base), http.StatusUnauthorized},
	}
	for _, c := range cases {
		if got := HTTPStatus(c.err); got != c.want {
			t.Errorf("HTTPStatus(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

func TestClassKeepsMessageAndCause(t *testing.T) {
	base := errors.New("boom")
	err := fmt.Errorf("ctx: %w", Conflict(base))
	if err.Error() != "ctx: boom" {
		t.Fatalf("message = %q", err.Error())
	}
	if !errors.Is(err, base) || !IsConflict(err) || IsNotFound(err) {
		t.Fatalf("classes wrong for %v", err)
	}
	if NotFound(nil) != nil {
		t.Fatal("NotFound(nil) must be nil")
	}
}
