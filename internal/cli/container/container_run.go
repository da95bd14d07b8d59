package container

import (
	"context"
	"fmt"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
)

func newRunCommand(cli *command.CLI) *cobra.Command {
	o := &createOptions{}
	var detach bool
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create and run a new container from an image",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return run(cmd.Context(), cli, o, detach, args)
		},
	}
	addCreateFlags(cmd.Flags(), o)
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "Run container in background and print container ID")
	cmd.Flags().Bool("sig-proxy", true, "Proxy received signals to the process")
	return cmd
}

// run is docker run: create, attach, wait, start, stream, exit with the
// container's status.
func run(ctx context.Context, cli *command.CLI, o *createOptions, detach bool, args []string) error {
	id, err := create(ctx, cli, o, args)
	if err != nil {
		return err
	}
	c, err := cli.Client(ctx)
	if err != nil {
		return statusErr(125, err.Error())
	}
	if detach {
		if _, err := c.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
			return startErr(err)
		}
		fmt.Fprintln(cli.Out, id)
		return nil
	}
	attach, err := c.ContainerAttach(ctx, id, client.ContainerAttachOptions{
		Stream: true, Stdin: o.interactive, Stdout: true, Stderr: true,
	})
	if err != nil {
		return statusErr(125, err.Error())
	}
	defer attach.Close()
	cond := container.WaitConditionNextExit
	if o.rm {
		cond = container.WaitConditionRemoved
	}
	wait := c.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: cond})
	if _, err := c.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return startErr(err)
	}
	resize := func(h, w uint) {
		c.ContainerResize(ctx, id, client.ContainerResizeOptions{Height: h, Width: w})
	}
	if err := pumpStreams(ctx, cli, attach.HijackedResponse, streamOpts{stdin: o.interactive, tty: o.tty}, resize); err != nil {
		return statusErr(125, err.Error())
	}
	select {
	case res := <-wait.Result:
		if res.Error != nil {
			return statusErr(125, res.Error.Message)
		}
		if res.StatusCode != 0 {
			return command.StatusError{StatusCode: int(res.StatusCode)}
		}
		return nil
	case err := <-wait.Error:
		return statusErr(125, err.Error())
	}
}
