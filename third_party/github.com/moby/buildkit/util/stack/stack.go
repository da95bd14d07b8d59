// Package stack is the part of buildkit's util/stack that the Dockerfile
// parser uses.
//
// Changed by berth: upstream's package also encodes stack traces as
// protocol buffer messages (stack.pb.go) and registers that type at
// init, which links google.golang.org/protobuf into berth and costs every
// start of the binary 0.2 ms (third_party/README.md). berth's builder
// never sends stacks over gRPC; only Enable is kept.
package stack

import "github.com/pkg/errors"

// Enable adds a stack trace to err unless it, or an error it wraps,
// has one.
func Enable(err error) error {
	if err == nil {
		return nil
	}
	if !hasLocalStackTrace(err) {
		return errors.WithStack(err)
	}
	return err
}

func hasLocalStackTrace(err error) bool {
	wrapped, ok := err.(interface {
		Unwrap() error
	})
	if ok && hasLocalStackTrace(wrapped.Unwrap()) {
		return true
	}

	_, ok = err.(interface {
		StackTrace() errors.StackTrace
	})
	return ok
}
