package image

import (
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
)

func newExportCommand(cli *command.CLI) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "export [OPTIONS] CONTAINER",
		Short: "Export a container's filesystem as a tar archive",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if output == "" && isTerminal(cli.Out) {
				return command.StatusError{Status: "cowardly refusing to save to a terminal. Use the -o flag or redirect", StatusCode: 1}
			}
			c, err := apiClient(ctx, cli)
			if err != nil {
				return err
			}
			rc, err := c.ContainerExport(ctx, args[0], client.ContainerExportOptions{})
			if err != nil {
				return apiError(err)
			}
			defer rc.Close()
			return writeOutput(cli, output, rc)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Write to a file, instead of STDOUT")
	return cmd
}
