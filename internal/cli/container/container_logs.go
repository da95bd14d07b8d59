package container

import (
	"io"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
)

func newLogsCommand(cli *command.CLI) *cobra.Command {
	var opts client.ContainerLogsOptions
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] CONTAINER",
		Short: "Fetch the logs of a container",
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
			opts.ShowStdout, opts.ShowStderr = true, true
			rc, err := c.ContainerLogs(ctx, args[0], opts)
			if err != nil {
				return err
			}
			defer rc.Close()
			if info.Container.Config.Tty {
				_, err = io.Copy(cli.Out, rc)
			} else {
				_, err = stdcopy.StdCopy(cli.Out, cli.Err, rc)
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&opts.Follow, "follow", "f", false, "Follow log output")
	fl.BoolVarP(&opts.Timestamps, "timestamps", "t", false, "Show timestamps")
	fl.StringVar(&opts.Since, "since", "", "Show logs since timestamp or relative (e.g. 42m)")
	fl.StringVar(&opts.Until, "until", "", "Show logs before a timestamp or relative (e.g. 42m)")
	fl.StringVarP(&opts.Tail, "tail", "n", "all", "Number of lines to show from the end of the logs")
	fl.BoolVar(&opts.Details, "details", false, "Show extra details provided to logs")
	return cmd
}
