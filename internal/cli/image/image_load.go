package image

import (
	"io"
	"os"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
)

func newLoadCommand(cli *command.CLI) *cobra.Command {
	var input string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "load [OPTIONS]",
		Short: "Load an image from a tar archive or STDIN",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			var in io.Reader = cli.In
			if input != "" {
				f, err := os.Open(input)
				if err != nil {
					return command.StatusError{Status: err.Error(), StatusCode: 1}
				}
				defer f.Close()
				in = f
			} else if isTerminal(cli.In) {
				return command.StatusError{Status: "requested load from stdin, but stdin is empty", StatusCode: 1}
			}
			c, err := apiClient(ctx, cli)
			if err != nil {
				return err
			}
			res, err := c.ImageLoad(ctx, in, client.ImageLoadWithQuiet(quiet))
			if err != nil {
				return command.Failure(err)
			}
			defer res.Close()
			return displayJSON(cli, res)
		},
	}
	cmd.Flags().StringVarP(&input, "input", "i", "", "Read from tar archive file, instead of STDIN")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Suppress the load output")
	return cmd
}
