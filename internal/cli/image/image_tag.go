package image

import (
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
)

func newTagCommand(cli *command.CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := apiClient(ctx, cli)
			if err != nil {
				return err
			}
			_, err = c.ImageTag(ctx, client.ImageTagOptions{Source: args[0], Target: args[1]})
			return command.Failure(err)
		},
	}
}
