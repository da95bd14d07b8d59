package container

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/cli/format"
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
			var raws []json.RawMessage
			var errs []string
			for _, n := range args {
				res, err := c.ContainerInspect(ctx, n, client.ContainerInspectOptions{})
				if err != nil {
					errs = append(errs, err.Error())
					continue
				}
				raws = append(raws, res.Raw)
			}
			if err := printInspect(cli, fmtStr, raws); err != nil {
				return err
			}
			return command.JoinErrors(errs)
		},
	}
	cmd.Flags().StringVarP(&fmtStr, "format", "f", "", "Format output using a custom template")
	cmd.Flags().BoolP("size", "s", false, "Display total file sizes")
	return cmd
}

// printInspect prints raw API objects as an indented JSON array, or each
// through a template (executed on the generic JSON, as docker does).
func printInspect(cli *command.CLI, fmtStr string, raws []json.RawMessage) error {
	if fmtStr == "" {
		var buf bytes.Buffer
		buf.WriteString("[")
		for i, r := range raws {
			if i > 0 {
				buf.WriteString(",")
			}
			buf.Write(r)
		}
		buf.WriteString("]")
		var out bytes.Buffer
		if err := json.Indent(&out, buf.Bytes(), "", "    "); err != nil {
			return err
		}
		fmt.Fprintln(cli.Out, out.String())
		return nil
	}
	items := make([]any, 0, len(raws))
	for _, r := range raws {
		var v any
		if err := json.Unmarshal(r, &v); err != nil {
			return err
		}
		items = append(items, v)
	}
	return format.Each(cli.Out, fmtStr, items)
}
