// Package volume holds `berth volume create|ls|inspect|rm|prune`.
package volume

import (
	"encoding/json"
	"fmt"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/cli/format"
)

// NewCommand returns `berth volume`.
func NewCommand(cli *command.CLI) *cobra.Command {
	cmd := &cobra.Command{Use: "volume", Short: "Manage volumes", Args: cobra.NoArgs}
	cmd.AddCommand(newCreate(cli), newList(cli), newInspect(cli), newRemove(cli), newPrune(cli))
	return cmd
}

func newCreate(cli *command.CLI) *cobra.Command {
	var driver string
	var labels, opts []string
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [VOLUME]",
		Short: "Create a volume",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cli.Client(cmd.Context())
			if err != nil {
				return err
			}
			o := client.VolumeCreateOptions{Driver: driver, Labels: command.KeyValues(labels), DriverOpts: command.KeyValues(opts)}
			if len(args) == 1 {
				o.Name = args[0]
			}
			res, err := c.VolumeCreate(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprintln(cli.Out, res.Volume.Name)
			return nil
		},
	}
	cmd.Flags().StringVarP(&driver, "driver", "d", "local", "Specify volume driver name")
	cmd.Flags().StringArrayVar(&labels, "label", nil, "Set metadata for a volume")
	cmd.Flags().StringArrayVarP(&opts, "opt", "o", nil, "Set driver specific options")
	return cmd
}

func newList(cli *command.CLI) *cobra.Command {
	var quiet bool
	var filters []string
	var fmtStr string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List volumes",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cli.Client(cmd.Context())
			if err != nil {
				return err
			}
			res, err := c.VolumeList(cmd.Context(), client.VolumeListOptions{Filters: command.Filters(filters)})
			if err != nil {
				return err
			}
			if quiet {
				for _, v := range res.Items {
					fmt.Fprintln(cli.Out, v.Name)
				}
				return nil
			}
			if fmtStr == "" {
				fmtStr = "table {{.Driver}}\t{{.Name}}"
			}
			items := make([]any, 0, len(res.Items))
			for _, v := range res.Items {
				items = append(items, v)
			}
			if format.IsTable(fmtStr) {
				return format.Table(cli.Out, fmtStr, map[string]string{"Driver": "DRIVER", "Name": "VOLUME NAME", "Mountpoint": "MOUNTPOINT", "Scope": "SCOPE"}, items)
			}
			return format.Each(cli.Out, fmtStr, items)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display volume names")
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "Provide filter values (e.g. \"dangling=true\")")
	cmd.Flags().StringVar(&fmtStr, "format", "", "Format output using a custom template")
	return cmd
}

func newInspect(cli *command.CLI) *cobra.Command {
	var fmtStr string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] VOLUME [VOLUME...]",
		Short: "Display detailed information on one or more volumes",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cli.Client(cmd.Context())
			if err != nil {
				return err
			}
			return cli.Inspect(fmtStr, args, func(n string) (json.RawMessage, error) {
				res, err := c.VolumeInspect(cmd.Context(), n, client.VolumeInspectOptions{})
				return res.Raw, err
			})
		},
	}
	cmd.Flags().StringVarP(&fmtStr, "format", "f", "", "Format output using a custom template")
	return cmd
}

func newRemove(cli *command.CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] VOLUME [VOLUME...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more volumes",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cli.ForEach(cmd.Context(), args, true, func(c *client.Client, n string) error {
				_, err := c.VolumeRemove(cmd.Context(), n, client.VolumeRemoveOptions{Force: force})
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the removal of one or more volumes")
	return cmd
}

func newPrune(cli *command.CLI) *cobra.Command {
	var all, force bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused local volumes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cli.Client(cmd.Context())
			if err != nil {
				return err
			}
			res, err := c.VolumePrune(cmd.Context(), client.VolumePruneOptions{All: all, Filters: command.Filters(filters)})
			if err != nil {
				return err
			}
			cli.PrintDeleted("Deleted Volumes:", res.Report.VolumesDeleted)
			fmt.Fprintf(cli.Out, "Total reclaimed space: %dB\n", res.Report.SpaceReclaimed)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Remove all unused volumes, not just anonymous ones")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "Provide filter values (e.g. \"label=<label>\")")
	return cmd
}
