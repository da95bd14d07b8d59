package container

import (
	"strings"

	"github.com/berth-project/berth/internal/cli/command"
)

func statusErr(code int, msg string) error {
	return command.StatusError{StatusCode: code, Status: msg}
}

// startErr maps a failed start to docker run's exit codes: 127 for a
// command that does not exist, 126 for one that cannot be run, else 125.
func startErr(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "executable file not found") || strings.Contains(msg, "no such file or directory") || strings.Contains(msg, "system cannot find the file specified"):
		return statusErr(127, msg)
	case strings.Contains(msg, "permission denied"):
		return statusErr(126, msg)
	}
	return statusErr(125, msg)
}
