//go:build !amd64

package nsexec

// No first stage is built for this architecture: Stage reports
// ErrUnavailable and the runtime uses its Go init alone.
var stageELF []byte
