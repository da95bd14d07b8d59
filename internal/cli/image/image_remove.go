package image

import (
	"fmt"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
)

func newRemoveCommand(cli *command.CLI, use string) *cobra.Command {
	var force, noPrune bool
	cmd := &cobra.Command{
		Use:   use + " [OPTIONS] IMAGE [IMAGE...]",
		Short: "Remove one or more images",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := apiClient(ctx, cli)
			if err != nil {
				return err
			}
			var errs []string
			for _, ref := range args {
				res, err := c.ImageRemove(ctx, ref, client.ImageRemoveOptions{Force: force, PruneChildren: !noPrune})
				if err != nil {
					errs = append(errs, err.Error())
					continue
				}
				for _, d := range res.Items {
					if d.Deleted != "" {
						fmt.Fprintf(cli.Out, "Deleted: %s\n", d.Deleted)
					} else {
						fmt.Fprintf(cli.Out, "Untagged: %s\n", d.Untagged)
					}
				}
			}
			return command.JoinErrors(errs)
		},
	}
	if use == "rm" {
		cmd.Aliases = []string{"remove", "rmi"}
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force removal of the image")
	cmd.Flags().BoolVar(&noPrune, "no-prune", false, "Do not delete untagged parents")
	return cmd
}
