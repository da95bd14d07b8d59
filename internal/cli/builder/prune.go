package builder

import (
	"fmt"

	units "github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
)

// newPrune returns `berth builder prune`.
func newPrune(cli *command.CLI) *cobra.Command {
	var all, force bool
	var filters []string
	var keep string
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove build cache",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if !force {
				msg := "WARNING! This will remove all dangling build cache."
				if all {
					msg = "WARNING! This will remove all build cache."
				}
				if !cli.Confirm(msg) {
					return nil
				}
			}
			o := client.BuildCachePruneOptions{All: all, Filters: command.Filters(filters)}
			if keep != "" {
				n, err := units.RAMInBytes(keep)
				if err != nil {
					return fmt.Errorf("invalid --keep-storage %q: %w", keep, err)
				}
				o.ReservedSpace = n
			}
			c, err := cli.Client(ctx)
			if err != nil {
				return err
			}
			res, err := c.BuildCachePrune(ctx, o)
			if err != nil {
				return err
			}
			cli.PrintDeleted("Deleted build cache objects:", res.Report.CachesDeleted)
			fmt.Fprintf(cli.Out, "Total reclaimed space: %s\n", units.HumanSize(float64(res.Report.SpaceReclaimed)))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Remove all unused build cache, not just dangling ones")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, `Provide filter values (e.g. "until=24h")`)
	cmd.Flags().StringVar(&keep, "keep-storage", "", "Amount of disk space to keep for cache")
	cmd.Flags().StringVar(&keep, "reserved-space", "", "Amount of disk space always allowed to keep for cache")
	return cmd
}
