package image

import (
	"fmt"
	"strings"

	units "github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
)

func newPruneCommand(cli *command.CLI) *cobra.Command {
	var all, force bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused images",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			f := client.Filters{}
			for _, fl := range filters {
				k, v, ok := strings.Cut(fl, "=")
				if !ok {
					return command.StatusError{Status: fmt.Sprintf("invalid argument %q for \"--filter\" flag: bad format of filter (expected name=value)", fl), StatusCode: 125}
				}
				f.Add(k, v)
			}
			warning := "WARNING! This will remove all dangling images."
			if all {
				f.Add("dangling", "false")
				warning = "WARNING! This will remove all images without at least one container associated to them."
			}
			if !force && !cli.Confirm(warning) {
				return nil
			}
			c, err := apiClient(ctx, cli)
			if err != nil {
				return err
			}
			res, err := c.ImagePrune(ctx, client.ImagePruneOptions{Filters: f})
			if err != nil {
				return command.Failure(err)
			}
			if len(res.Report.ImagesDeleted) > 0 {
				fmt.Fprintln(cli.Out, "Deleted Images:")
				for _, d := range res.Report.ImagesDeleted {
					if d.Untagged != "" {
						fmt.Fprintf(cli.Out, "untagged: %s\n", d.Untagged)
					} else {
						fmt.Fprintf(cli.Out, "deleted: %s\n", d.Deleted)
					}
				}
				fmt.Fprintln(cli.Out)
			}
			fmt.Fprintf(cli.Out, "Total reclaimed space: %s\n", units.HumanSize(float64(res.Report.SpaceReclaimed)))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&all, "all", "a", false, "Remove all unused images, not just dangling ones")
	fl.BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	fl.StringArrayVar(&filters, "filter", nil, "Provide filter values (e.g. \"until=<timestamp>\")")
	return cmd
}
