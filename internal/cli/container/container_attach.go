package container

import (
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
)

func newAttachCommand(cli *command.CLI) *cobra.Command {
	var noStdin bool
	cmd := &cobra.Command{
		Use:   "attach [OPTIONS] CONTAINER",
		Short: "Attach local standard input, output, and error streams to a running container",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := cli.Client(ctx)
			if err != nil {
				return err
			}
			info, err := c.ContainerInspect(ctx, args[0], client.ContainerInspectOptions{})
			if err != nil {
				return err
			}
			if !info.Container.State.Running {
				return statusErr(1, "You cannot attach to a stopped container, start it first")
			}
			stdin := info.Container.Config.OpenStdin && !noStdin
			resp, err := c.ContainerAttach(ctx, args[0], client.ContainerAttachOptions{Stream: true, Stdin: stdin, Stdout: true, Stderr: true})
			if err != nil {
				return err
			}
			defer resp.Close()
			resize := func(h, w uint) {
				c.ContainerResize(ctx, args[0], client.ContainerResizeOptions{Height: h, Width: w})
			}
			if err := pumpStreams(ctx, cli, resp.HijackedResponse, streamOpts{stdin: stdin, tty: info.Container.Config.Tty}, resize); err != nil {
				return err
			}
			// The stream ends when the container exits: report its status.
			w := c.ContainerWait(ctx, args[0], client.ContainerWaitOptions{})
			select {
			case res := <-w.Result:
				if res.StatusCode != 0 {
					return command.StatusError{StatusCode: int(res.StatusCode)}
				}
			case err := <-w.Error:
				return err
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&noStdin, "no-stdin", false, "Do not attach STDIN")
	cmd.Flags().Bool("sig-proxy", true, "Proxy all received signals to the process")
	cmd.Flags().String("detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}
