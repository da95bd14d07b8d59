package content

import "errors"

// Error classes of the content store. Callers test them with errors.Is;
// the returned errors wrap them with the digest or ref concerned.
var (
	// ErrNotFound: no blob (or ingest) with that digest (or ref).
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: the blob is already committed. A writer that finds
	// its blob committed by someone else may treat this as success.
	ErrAlreadyExists = errors.New("already exists")
	// ErrInvalidArgument: a malformed digest, ref or size.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrFailedPrecondition: written data does not match the expected digest or size.
	ErrFailedPrecondition = errors.New("failed precondition")
	// ErrUnavailable: the ingest ref is held by another writer.
	ErrUnavailable = errors.New("unavailable")
)
