package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Code is an error code of the OCI distribution spec (plus the few that
// CNCF distribution added and clients know). Each code has one HTTP status:
// this table is the only place the registry maps errors to statuses.
type Code string

// Error codes.
const (
	CodeBlobUnknown         Code = "BLOB_UNKNOWN"
	CodeBlobUploadInvalid   Code = "BLOB_UPLOAD_INVALID"
	CodeBlobUploadUnknown   Code = "BLOB_UPLOAD_UNKNOWN"
	CodeDigestInvalid       Code = "DIGEST_INVALID"
	CodeManifestBlobUnknown Code = "MANIFEST_BLOB_UNKNOWN"
	CodeManifestInvalid     Code = "MANIFEST_INVALID"
	CodeManifestUnknown     Code = "MANIFEST_UNKNOWN"
	CodeNameInvalid         Code = "NAME_INVALID"
	CodeNameUnknown         Code = "NAME_UNKNOWN"
	CodeSizeInvalid         Code = "SIZE_INVALID"
	CodeTagInvalid          Code = "TAG_INVALID"
	CodeUnauthorized        Code = "UNAUTHORIZED"
	CodeDenied              Code = "DENIED"
	CodeUnsupported         Code = "UNSUPPORTED"
	CodeTooManyRequests     Code = "TOOMANYREQUESTS"
	CodeRangeInvalid        Code = "RANGE_INVALID"
	CodePaginationInvalid   Code = "PAGINATION_NUMBER_INVALID"
	CodeUnavailable         Code = "UNAVAILABLE"
	CodeUnknown             Code = "UNKNOWN"
)

var codeStatus = map[Code]int{
	CodeBlobUnknown:         http.StatusNotFound,
	CodeBlobUploadInvalid:   http.StatusBadRequest,
	CodeBlobUploadUnknown:   http.StatusNotFound,
	CodeDigestInvalid:       http.StatusBadRequest,
	CodeManifestBlobUnknown: http.StatusBadRequest,
	CodeManifestInvalid:     http.StatusBadRequest,
	CodeManifestUnknown:     http.StatusNotFound,
	CodeNameInvalid:         http.StatusBadRequest,
	CodeNameUnknown:         http.StatusNotFound,
	CodeSizeInvalid:         http.StatusBadRequest,
	CodeTagInvalid:          http.StatusBadRequest,
	CodeUnauthorized:        http.StatusUnauthorized,
	CodeDenied:              http.StatusForbidden,
	CodeUnsupported:         http.StatusMethodNotAllowed,
	CodeTooManyRequests:     http.StatusTooManyRequests,
	CodeRangeInvalid:        http.StatusRequestedRangeNotSatisfiable,
	CodePaginationInvalid:   http.StatusBadRequest,
	CodeUnavailable:         http.StatusServiceUnavailable,
	CodeUnknown:             http.StatusInternalServerError,
}

// Status is the HTTP status a response with this code carries.
func (c Code) Status() int {
	if s, ok := codeStatus[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Error is a registry error: a code, a message and an optional detail.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
	cause   error
}

func (e *Error) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.cause)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.cause }

func errorf(code Code, format string, a ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, a...)}
}

// withDetail attaches a detail object (usually {"digest": …} or {"name": …}).
func (e *Error) withDetail(d any) *Error {
	e.Detail = d
	return e
}

// asError turns any error into a registry error; errors without a code are
// internal ones (UNKNOWN, 500).
func asError(err error) *Error {
	var re *Error
	if errors.As(err, &re) {
		return re
	}
	return &Error{Code: CodeUnknown, Message: "internal error", cause: err}
}

type errorBody struct {
	Errors []*Error `json:"errors"`
}

// writeError answers with the error's status and the spec's error body.
// HEAD responses carry no body.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	re := asError(err)
	h := w.Header()
	h.Del("Content-Length")
	h.Del("Docker-Content-Digest")
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(re.Code.Status())
	if r.Method == http.MethodHead {
		return
	}
	b, _ := json.Marshal(errorBody{Errors: []*Error{re}})
	w.Write(append(b, '\n'))
}
