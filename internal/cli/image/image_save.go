package image

import (
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
)

func newSaveCommand(cli *command.CLI) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "save [OPTIONS] IMAGE [IMAGE...]",
		Short: "Save one or more images to a tar archive (streamed to STDOUT by default)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if output == "" && isTerminal(cli.Out) {
				return command.StatusError{Status: "cowardly refusing to save to a terminal. Use the -o flag or redirect", StatusCode: 1}
			}
			c, err := apiClient(ctx, cli)
			if err != nil {
				return err
			}
			rc, err := c.ImageSave(ctx, args)
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
