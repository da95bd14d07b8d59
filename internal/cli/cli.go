// Package cli is the berth command line: a cobra tree of command groups
// (internal/cli/<group>) that talk to the daemon through the Docker API
// client only.
package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/builder"
	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/cli/container"
	"github.com/berth-project/berth/internal/cli/image"
	"github.com/berth-project/berth/internal/cli/network"
	registrycmd "github.com/berth-project/berth/internal/cli/registry"
	"github.com/berth-project/berth/internal/cli/system"
	"github.com/berth-project/berth/internal/cli/volume"
)

// Main runs the CLI with args (without the program name) and returns the
// exit code: the container's for run/start -a/exec, 125 for errors of run
// itself, 1 for other failures.
func Main(args []string) int {
	cli := &command.CLI{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}
	root := newRoot(cli)
	root.SetArgs(args)
	root.SetOut(os.Stdout)
	root.SetErr(os.Stderr)
	err := root.ExecuteContext(context.Background())
	if err == nil {
		return 0
	}
	var se command.StatusError
	if errors.As(err, &se) {
		if se.Status != "" {
			msg := se.Status
			if se.StatusCode == 125 || se.StatusCode == 126 || se.StatusCode == 127 {
				if !strings.HasPrefix(msg, "berth: ") {
					msg = "berth: " + msg
				}
			}
			fmt.Fprintln(os.Stderr, msg)
		}
		if se.StatusCode == 0 {
			return 1
		}
		return se.StatusCode
	}
	fmt.Fprintln(os.Stderr, "Error:", err)
	if isFlagError(err) {
		return 125
	}
	return 1
}

func isFlagError(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "unknown flag") || strings.Contains(msg, "unknown shorthand") ||
		strings.Contains(msg, "invalid argument") || strings.Contains(msg, "flag needs an argument") ||
		strings.Contains(msg, "requires at least") || strings.Contains(msg, "accepts")
}

func newRoot(cli *command.CLI) *cobra.Command {
	var host string
	root := &cobra.Command{
		Use:           "berth [OPTIONS] COMMAND",
		Short:         "A container engine that speaks the Docker API",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			cli.Host, cli.AutoStart = resolveHost(host)
		},
	}
	// A global flag as docker's: it goes before the command (`berth -H
	// SOCK ps`), so commands can have their own -H (history --human).
	root.TraverseChildren = true
	root.Flags().StringVarP(&host, "host", "H", "", "Daemon socket to connect to")
	root.AddCommand(container.TopLevel(cli)...)
	root.AddCommand(image.TopLevel(cli)...)
	root.AddCommand(registrycmd.TopLevel(cli)...)
	ctr := container.NewCommand(cli)
	ctr.AddCommand(image.ContainerCommands(cli)...)
	img := image.NewCommand(cli)
	img.AddCommand(registrycmd.ImageCommands(cli)...)
	root.AddCommand(ctr, img, volume.NewCommand(cli), network.NewCommand(cli), system.NewCommand(cli),
		system.NewVersionCommand(cli), system.NewInfoCommand(cli), system.NewEventsCommand(cli),
		system.NewInspectCommand(cli))
	root.AddCommand(builder.NewBuildCommand(cli), builder.NewBuilderCommand(cli))
	return root
}

// resolveHost picks the daemon socket: -H, then $BERTH_HOST, then the
// default. A daemon is started on demand for any unix socket, unless
// $BERTH_NO_AUTOSTART is set.
func resolveHost(flag string) (string, bool) {
	auto := os.Getenv("BERTH_NO_AUTOSTART") == ""
	for _, h := range []string{flag, os.Getenv("BERTH_HOST")} {
		if h != "" {
			return h, auto
		}
	}
	return command.DefaultHost, auto
}
