package container

import (
	"context"
	"fmt"

	"github.com/moby/moby/client"

	"github.com/berth-project/berth/internal/cli/command"
)

// forEach runs fn on every named container, printing each name on
// success and collecting errors the way docker does.
func forEach(ctx context.Context, cli *command.CLI, names []string, print bool, fn func(c *client.Client, name string) error) error {
	c, err := cli.Client(ctx)
	if err != nil {
		return err
	}
	var errs []string
	for _, n := range names {
		if err := fn(c, n); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if print {
			fmt.Fprintln(cli.Out, n)
		}
	}
	return command.JoinErrors(errs)
}
