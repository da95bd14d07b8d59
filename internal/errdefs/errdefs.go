// Package errdefs holds berth's small set of error classes. Code anywhere in
// the engine wraps an error in a class (NotFound, Conflict, ...); the API
// server maps the class to an HTTP status in exactly one place, HTTPStatus.
package errdefs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// The class sentinels. Test with errors.Is or the Is* helpers.
var (
	ErrNotFound        = errors.New("not found")
	ErrConflict        = errors.New("conflict")
	ErrInvalidArgument = errors.New("invalid argument")
	ErrUnavailable     = errors.New("unavailable")
	ErrForbidden       = errors.New("forbidden")
	ErrNotModified     = errors.New("not modified")
	ErrNotImplemented  = errors.New("not implemented")
	ErrUnauthorized    = errors.New("unauthorized")
)

// classed attaches a class to an error without changing its message.
type classed struct {
	class error
	err   error
}

func (e *classed) Error() string   { return e.err.Error() }
func (e *classed) Unwrap() []error { return []error{e.err, e.class} }

func wrap(class, err error) error {
	if err == nil {
		return nil
	}
	return &classed{class: class, err: err}
}

// NotFound marks err as "the object does not exist" (HTTP 404).
func NotFound(err error) error { return wrap(ErrNotFound, err) }

// Conflict marks err as "the object's state forbids this" (HTTP 409).
func Conflict(err error) error { return wrap(ErrConflict, err) }

// InvalidArgument marks err as "the request is malformed" (HTTP 400).
func InvalidArgument(err error) error { return wrap(ErrInvalidArgument, err) }

// Unavailable marks err as "a dependency is not there right now" (HTTP 503).
func Unavailable(err error) error { return wrap(ErrUnavailable, err) }

// Forbidden marks err as "not allowed" (HTTP 403).
func Forbidden(err error) error { return wrap(ErrForbidden, err) }

// NotModified marks err as "nothing to do" (HTTP 304).
func NotModified(err error) error { return wrap(ErrNotModified, err) }

// NotImplemented marks err as "not supported by berth (yet)" (HTTP 501).
func NotImplemented(err error) error { return wrap(ErrNotImplemented, err) }

// Unauthorized marks err as "credentials missing or wrong" (HTTP 401).
func Unauthorized(err error) error { return wrap(ErrUnauthorized, err) }

// NotFoundf formats a NotFound error.
func NotFoundf(format string, a ...any) error { return NotFound(fmt.Errorf(format, a...)) }

// Conflictf formats a Conflict error.
func Conflictf(format string, a ...any) error { return Conflict(fmt.Errorf(format, a...)) }

// InvalidArgumentf formats an InvalidArgument error.
func InvalidArgumentf(format string, a ...any) error {
	return InvalidArgument(fmt.Errorf(format, a...))
}

// IsNotFound reports whether err is of class NotFound.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsConflict reports whether err is of class Conflict.
func IsConflict(err error) bool { return errors.Is(err, ErrConflict) }

// IsInvalidArgument reports whether err is of class InvalidArgument.
func IsInvalidArgument(err error) bool { return errors.Is(err, ErrInvalidArgument) }

// IsNotModified reports whether err is of class NotModified.
func IsNotModified(err error) bool { return errors.Is(err, ErrNotModified) }

// Classified reports whether err carries a class (or is a cancellation):
// whether it is more than an internal error.
func Classified(err error) bool {
	return err != nil && HTTPStatus(err) != http.StatusInternalServerError
}

// HTTPStatus maps an error to the HTTP status the API answers with. It is the
// only place in berth where that mapping lives.
func HTTPStatus(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrConflict):
		return http.StatusConflict
	case errors.Is(err, ErrInvalidArgument):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrNotModified):
		return http.StatusNotModified
	case errors.Is(err, ErrNotImplemented):
		return http.StatusNotImplemented
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusRequestTimeout
	default:
		return http.StatusInternalServerError
	}
}
