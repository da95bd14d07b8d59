package container

import (
	"fmt"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
)

func newStopCommand(cli *command.CLI) *cobra.Command {
	var timeout int
	var signal string
	cmd := &cobra.Command{
		Use:   "stop [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Stop one or more running containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := client.ContainerStopOptions{Signal: signal}
			if cmd.Flags().Changed("timeout") {
				opts.Timeout = &timeout
			}
			return cli.ForEach(cmd.Context(), args, true, func(c *client.Client, n string) error {
				_, err := c.ContainerStop(cmd.Context(), n, opts)
				return err
			})
		},
	}
	cmd.Flags().IntVarP(&timeout, "timeout", "t", 0, "Seconds to wait before killing the container")
	cmd.Flags().StringVarP(&signal, "signal", "s", "", "Signal to send to the container")
	return cmd
}

func newRestartCommand(cli *command.CLI) *cobra.Command {
	var timeout int
	var signal string
	cmd := &cobra.Command{
		Use:   "restart [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Restart one or more containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := client.ContainerRestartOptions{Signal: signal}
			if cmd.Flags().Changed("timeout") {
				opts.Timeout = &timeout
			}
			return cli.ForEach(cmd.Context(), args, true, func(c *client.Client, n string) error {
				_, err := c.ContainerRestart(cmd.Context(), n, opts)
				return err
			})
		},
	}
	cmd.Flags().IntVarP(&timeout, "timeout", "t", 0, "Seconds to wait before killing the container")
	cmd.Flags().StringVarP(&signal, "signal", "s", "", "Signal to send to the container")
	return cmd
}

func newKillCommand(cli *command.CLI) *cobra.Command {
	var signal string
	cmd := &cobra.Command{
		Use:   "kill [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Kill one or more running containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cli.ForEach(cmd.Context(), args, true, func(c *client.Client, n string) error {
				_, err := c.ContainerKill(cmd.Context(), n, client.ContainerKillOptions{Signal: signal})
				return err
			})
		},
	}
	cmd.Flags().StringVarP(&signal, "signal", "s", "", "Signal to send to the container")
	return cmd
}

func newRmCommand(cli *command.CLI) *cobra.Command {
	var opts client.ContainerRemoveOptions
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] CONTAINER [CONTAINER...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more containers",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cli.ForEach(cmd.Context(), args, true, func(c *client.Client, n string) error {
				_, err := c.ContainerRemove(cmd.Context(), n, opts)
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&opts.Force, "force", "f", false, "Force the removal of a running container (uses SIGKILL)")
	cmd.Flags().BoolVarP(&opts.RemoveVolumes, "volumes", "v", false, "Remove anonymous volumes associated with the container")
	return cmd
}

func newPauseCommand(cli *command.CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "pause CONTAINER [CONTAINER...]",
		Short: "Pause all processes within one or more containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cli.ForEach(cmd.Context(), args, true, func(c *client.Client, n string) error {
				_, err := c.ContainerPause(cmd.Context(), n, client.ContainerPauseOptions{})
				return err
			})
		},
	}
}

func newUnpauseCommand(cli *command.CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "unpause CONTAINER [CONTAINER...]",
		Short: "Unpause all processes within one or more containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cli.ForEach(cmd.Context(), args, true, func(c *client.Client, n string) error {
				_, err := c.ContainerUnpause(cmd.Context(), n, client.ContainerUnpauseOptions{})
				return err
			})
		},
	}
}

func newRenameCommand(cli *command.CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "rename CONTAINER NEW_NAME",
		Short: "Rename a container",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cli.ForEach(cmd.Context(), args[:1], false, func(c *client.Client, n string) error {
				_, err := c.ContainerRename(cmd.Context(), n, client.ContainerRenameOptions{NewName: args[1]})
				return err
			})
		},
	}
}

func newWaitCommand(cli *command.CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "wait CONTAINER [CONTAINER...]",
		Short: "Block until one or more containers stop, then print their exit codes",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := cli.Client(ctx)
			if err != nil {
				return err
			}
			var errs []string
			for _, n := range args {
				w := c.ContainerWait(ctx, n, client.ContainerWaitOptions{})
				select {
				case res := <-w.Result:
					fmt.Fprintln(cli.Out, res.StatusCode)
				case err := <-w.Error:
					errs = append(errs, err.Error())
				}
			}
			return command.JoinErrors(errs)
		},
	}
}
