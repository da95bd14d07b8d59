package system

import (
	"fmt"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
)

// NewPruneCommand returns `berth system prune`: stopped containers,
// unused networks, and
// with --volumes unused anonymous volumes (--all: all unused volumes).
func NewPruneCommand(cli *command.CLI) *cobra.Command {
	var all, force, volumes bool
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused data",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := cli.Client(ctx)
			if err != nil {
				return err
			}
			cres, err := c.ContainerPrune(ctx, client.ContainerPruneOptions{})
			if err != nil {
				return err
			}
			total := cres.Report.SpaceReclaimed
			cli.PrintDeleted("Deleted Containers:", cres.Report.ContainersDeleted)
			nres, err := c.NetworkPrune(ctx, client.NetworkPruneOptions{})
			if err != nil {
				return err
			}
			cli.PrintDeleted("Deleted Networks:", nres.Report.NetworksDeleted)
			if volumes {
				vres, err := c.VolumePrune(ctx, client.VolumePruneOptions{All: all})
				if err != nil {
					return err
				}
				total += vres.Report.SpaceReclaimed
				cli.PrintDeleted("Deleted Volumes:", vres.Report.VolumesDeleted)
			}
			fmt.Fprintf(cli.Out, "Total reclaimed space: %dB\n", total)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Remove all unused volumes, not just anonymous ones (with --volumes)")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().BoolVar(&volumes, "volumes", false, "Prune anonymous volumes")
	return cmd
}
