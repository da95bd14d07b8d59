package command

import (
	"context"
	"fmt"

	"github.com/moby/moby/client"
)

// ForEach runs fn on every named object (`rm a b c`), printing each name
// on success when print is set and collecting errors the way docker does.
func (cli *CLI) ForEach(ctx context.Context, names []string, print bool, fn func(c *client.Client, name string) error) error {
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
	return JoinErrors(errs)
}
