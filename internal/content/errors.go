package content

import (
	"errors"

	"github.com/berth-project/berth/internal/errdefs"
)

// Error classes of the content store. Callers test them with errors.Is;
// the returned errors wrap them with the digest or ref concerned. Each is
// also of an errdefs class, so that the API maps it to an HTTP status.
var (
	// ErrNotFound: no blob (or ingest) with that digest (or ref).
	ErrNotFound = errdefs.NotFound(errors.New("not found"))
	// ErrAlreadyExists: the blob is already committed. A writer that finds
	// its blob committed by someone else may treat this as success.
	ErrAlreadyExists = errdefs.Conflict(errors.New("already exists"))
	// ErrInvalidArgument: a malformed digest, ref or size.
	ErrInvalidArgument = errdefs.InvalidArgument(errors.New("invalid argument"))
	// ErrFailedPrecondition: written data does not match the expected digest or size.
	ErrFailedPrecondition = errdefs.InvalidArgument(errors.New("failed precondition"))
	// ErrUnavailable: the ingest ref is held by another writer.
	ErrUnavailable = errdefs.Unavailable(errors.New("unavailable"))
)
