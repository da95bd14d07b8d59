package image

import (
	"fmt"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
)

func newCommitCommand(cli *command.CLI) *cobra.Command {
	var author, message string
	var changes []string
	var pause bool
	cmd := &cobra.Command{
		Use:   "commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
		Short: "Create a new image from a container's changes",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := apiClient(ctx, cli)
			if err != nil {
				return err
			}
			opts := client.ContainerCommitOptions{Comment: message, Author: author, Changes: changes, NoPause: !pause}
			if len(args) == 2 {
				opts.Reference = args[1]
			}
			res, err := c.ContainerCommit(ctx, args[0], opts)
			if err != nil {
				return command.Failure(err)
			}
			fmt.Fprintln(cli.Out, res.ID)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&author, "author", "a", "", `Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")`)
	fl.StringArrayVarP(&changes, "change", "c", nil, "Apply Dockerfile instruction to the created image")
	fl.StringVarP(&message, "message", "m", "", "Commit message")
	fl.BoolVarP(&pause, "pause", "p", true, "Pause container during commit")
	return cmd
}
