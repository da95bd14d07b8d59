package container

import (
	"encoding/json"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
)

func newInspectCommand(cli *command.CLI) *cobra.Command {
	var fmtStr string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Display detailed information on one or more containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := cli.Client(ctx)
			if err != nil {
				return err
			}
			return cli.Inspect(fmtStr, args, func(n string) (json.RawMessage, error) {
				res, err := c.ContainerInspect(ctx, n, client.ContainerInspectOptions{})
				return res.Raw, err
			})
		},
	}
	cmd.Flags().StringVarP(&fmtStr, "format", "f", "", "Format output using a custom template")
	cmd.Flags().BoolP("size", "s", false, "Display total file sizes")
	return cmd
}
