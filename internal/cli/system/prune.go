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
			if len(cres.Report.ContainersDeleted) > 0 {
				fmt.Fprintln(cli.Out, "Deleted Containers:")
				for _, id := range cres.Report.ContainersDeleted {
					fmt.Fprintln(cli.Out, id)
				}
				fmt.Fprintln(cli.Out)
			}
			nres, err := c.NetworkPrune(ctx, client.NetworkPruneOptions{})
			if err != nil {
				return err
			}
			if len(nres.Report.NetworksDeleted) > 0 {
				fmt.Fprintln(cli.Out, "Deleted Networks:")
				for _, n := range nres.Report.NetworksDeleted {
					fmt.Fprintln(cli.Out, n)
				}
				fmt.Fprintln(cli.Out)
			}
			if volumes {
				vres, err := c.VolumePrune(ctx, client.VolumePruneOptions{All: all})
				if err != nil {
					return err
				}
				total += vres.Report.SpaceReclaimed
				if len(vres.Report.VolumesDeleted) > 0 {
					fmt.Fprintln(cli.Out, "Deleted Volumes:")
					for _, n := range vres.Report.VolumesDeleted {
						fmt.Fprintln(cli.Out, n)
					}
					fmt.Fprintln(cli.Out)
				}
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
