package system

import (
	"encoding/json"
	"fmt"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/cli/image"
)

// NewInspectCommand returns the generic `berth inspect`: each name is
// looked up as a container, then an image, then a volume (or only as
// --type says), as docker does.
func NewInspectCommand(cli *command.CLI) *cobra.Command {
	var fmtStr, typ string
	var size bool
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NAME|ID [NAME|ID...]",
		Short: "Return low-level information on berth objects",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch typ {
			case "", "container", "image", "volume":
			default:
				return command.StatusError{Status: fmt.Sprintf("%q is not a valid value for --type", typ), StatusCode: 1}
			}
			ctx := cmd.Context()
			c, err := cli.Client(ctx)
			if err != nil {
				return err
			}
			return cli.Inspect(fmtStr, args, func(name string) (json.RawMessage, error) { return inspectAny(cmd, c, name, typ, size) })
		},
	}
	cmd.Flags().StringVarP(&fmtStr, "format", "f", "", "Format output using a custom template")
	cmd.Flags().StringVar(&typ, "type", "", "Only inspect objects of the given type")
	cmd.Flags().BoolVarP(&size, "size", "s", false, "Display total file sizes if the type is container")
	return cmd
}

func inspectAny(cmd *cobra.Command, c *client.Client, name, typ string, size bool) (json.RawMessage, error) {
	ctx := cmd.Context()
	if typ == "" || typ == "container" {
		res, err := c.ContainerInspect(ctx, name, client.ContainerInspectOptions{Size: size})
		if err == nil {
			return res.Raw, nil
		}
		if typ != "" || !command.IsNotFound(err) {
			return nil, err
		}
	}
	if typ == "" || typ == "image" {
		raw, err := image.InspectRaw(cmd, c, name)
		if err == nil {
			return raw, nil
		}
		if typ != "" || !command.IsNotFound(err) {
			return nil, err
		}
	}
	if typ == "" || typ == "volume" {
		res, err := c.VolumeInspect(ctx, name, client.VolumeInspectOptions{})
		if err == nil {
			return res.Raw, nil
		}
		if typ != "" || !command.IsNotFound(err) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("Error: No such object: %s", name)
}
