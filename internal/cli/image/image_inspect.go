package image

import (
	"bytes"
	"encoding/json"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
)

func newInspectCommand(cli *command.CLI) *cobra.Command {
	var fmtStr string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] IMAGE [IMAGE...]",
		Short: "Display detailed information on one or more images",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := apiClient(ctx, cli)
			if err != nil {
				return err
			}
			return cli.Inspect(fmtStr, args, func(n string) (json.RawMessage, error) { return InspectRaw(cmd, c, n) })
		},
	}
	cmd.Flags().StringVarP(&fmtStr, "format", "f", "", "Format output using a custom template")
	return cmd
}

// InspectRaw returns the image inspect JSON of ref as the daemon sent it.
func InspectRaw(cmd *cobra.Command, c *client.Client, ref string) (json.RawMessage, error) {
	var buf bytes.Buffer
	if _, err := c.ImageInspect(cmd.Context(), ref, client.ImageInspectWithRawResponse(&buf)); err != nil {
		return nil, err
	}
	return json.RawMessage(bytes.TrimSpace(buf.Bytes())), nil
}
