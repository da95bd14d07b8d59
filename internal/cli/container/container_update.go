package container

import (
	"fmt"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
)

func newUpdateCommand(cli *command.CLI) *cobra.Command {
	o := &createOptions{}
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Update configuration of one or more containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := client.ContainerUpdateOptions{Resources: &container.Resources{}}
			if err := o.resources(opts.Resources); err != nil {
				return err
			}
			if cmd.Flags().Changed("restart") {
				p, err := parseRestart(o.restart)
				if err != nil {
					return err
				}
				opts.RestartPolicy = &p
			}
			return cli.ForEach(cmd.Context(), args, true, func(c *client.Client, n string) error {
				res, err := c.ContainerUpdate(cmd.Context(), n, opts)
				for _, w := range res.Warnings {
					fmt.Fprintln(cli.Err, "WARNING:", w)
				}
				return err
			})
		},
	}
	fs := cmd.Flags()
	o.flags = fs
	fs.StringVarP(&o.memory, "memory", "m", "", "Memory limit")
	fs.StringVar(&o.memorySwap, "memory-swap", "", "Swap limit equal to memory plus swap: -1 to enable unlimited swap")
	fs.StringVar(&o.memoryReservation, "memory-reservation", "", "Memory soft limit")
	fs.StringVar(&o.cpus, "cpus", "", "Number of CPUs")
	fs.Int64VarP(&o.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	fs.StringVar(&o.cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	fs.Int64Var(&o.pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")
	fs.StringVar(&o.restart, "restart", "", "Restart policy to apply when a container exits")
	return cmd
}
