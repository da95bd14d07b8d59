package container

import (
	"context"
	"fmt"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
)

func newStartCommand(cli *command.CLI) *cobra.Command {
	var attach, interactive bool
	cmd := &cobra.Command{
		Use:   "start [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Start one or more stopped containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if attach || interactive {
				if len(args) > 1 {
					return statusErr(1, "you cannot start and attach multiple containers at once")
				}
				return startAttached(ctx, cli, args[0], interactive)
			}
			return cli.ForEach(ctx, args, true, func(c *client.Client, n string) error {
				_, err := c.ContainerStart(ctx, n, client.ContainerStartOptions{})
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&attach, "attach", "a", false, "Attach STDOUT/STDERR and forward signals")
	cmd.Flags().BoolVarP(&interactive, "interactive", "i", false, "Attach container's STDIN")
	return cmd
}

func startAttached(ctx context.Context, cli *command.CLI, name string, stdin bool) error {
	c, err := cli.Client(ctx)
	if err != nil {
		return err
	}
	info, err := c.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	stdin = stdin && info.Container.Config.OpenStdin
	resp, err := c.ContainerAttach(ctx, name, client.ContainerAttachOptions{Stream: true, Stdin: stdin, Stdout: true, Stderr: true})
	if err != nil {
		return err
	}
	defer resp.Close()
	wait := c.ContainerWait(ctx, name, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := c.ContainerStart(ctx, name, client.ContainerStartOptions{}); err != nil {
		return err
	}
	if err := pumpStreams(ctx, cli, resp.HijackedResponse, streamOpts{stdin: stdin, tty: info.Container.Config.Tty}, nil); err != nil {
		return err
	}
	select {
	case res := <-wait.Result:
		if res.StatusCode != 0 {
			return command.StatusError{StatusCode: int(res.StatusCode)}
		}
	case err := <-wait.Error:
		return fmt.Errorf("wait: %w", err)
	}
	return nil
}
