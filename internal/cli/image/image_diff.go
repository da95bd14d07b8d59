package image

import (
	"fmt"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
)

func newDiffCommand(cli *command.CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "diff CONTAINER",
		Short: "Inspect changes to files or directories on a container's filesystem",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := apiClient(ctx, cli)
			if err != nil {
				return err
			}
			res, err := c.ContainerDiff(ctx, args[0], client.ContainerDiffOptions{})
			if err != nil {
				return command.Failure(err)
			}
			for _, ch := range res.Changes {
				kind := "C"
				switch ch.Kind {
				case container.ChangeAdd:
					kind = "A"
				case container.ChangeDelete:
					kind = "D"
				}
				fmt.Fprintf(cli.Out, "%s %s\n", kind, ch.Path)
			}
			return nil
		},
	}
}
