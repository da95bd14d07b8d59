// Package command holds what every CLI command group shares: the streams,
// the API client (starting a daemon when none answers) and Docker's exit
// status errors.
package command

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// CLI is the environment of a command.
type CLI struct {
	In       io.Reader
	Out, Err io.Writer
	// Host is the daemon socket (unix:///path).
	Host string
	// AutoStart starts a daemon when none answers on the default socket.
	AutoStart bool

	once   sync.Once
	client *client.Client
	err    error
}

// Client returns the API client, connecting (and starting a daemon) on
// first use.
func (c *CLI) Client(ctx context.Context) (*client.Client, error) {
	c.once.Do(func() {
		if c.AutoStart {
			if err := EnsureDaemon(ctx, c.Host); err != nil {
				c.err = err
				return
			}
		}
		c.client, c.err = client.New(client.WithHost(c.Host), client.WithAPIVersionNegotiation())
	})
	return c.client, c.err
}

// StatusError makes the CLI exit with StatusCode after printing Status.
type StatusError struct {
	Status     string
	StatusCode int
}

func (e StatusError) Error() string {
	if e.Status == "" {
		return fmt.Sprintf("exit status %d", e.StatusCode)
	}
	return e.Status
}

// Failure makes err the command's failure as docker reports API errors:
// its message alone and exit status 1. A StatusError passes unchanged.
func Failure(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(StatusError); ok {
		return err
	}
	return StatusError{Status: err.Error(), StatusCode: 1}
}

// IsNotFound reports whether an API error is a 404.
func IsNotFound(err error) bool { return cerrdefs.IsNotFound(err) }

// Errorf prints a message to the CLI's error stream.
func (c *CLI) Errorf(format string, a ...any) {
	fmt.Fprintf(c.Err, format, a...)
}

// StdinFile returns stdin as a file when it is one.
func (c *CLI) StdinFile() (*os.File, bool) {
	f, ok := c.In.(*os.File)
	return f, ok
}

// JoinErrors reports several per-object errors as one, the way docker
// does for `rm a b c`.
func JoinErrors(errs []string) error {
	if len(errs) == 0 {
		return nil
	}
	return StatusError{Status: strings.Join(errs, "\n"), StatusCode: 1}
}
