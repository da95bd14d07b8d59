// Package container holds the container commands of the berth CLI:
// flags → API requests through the Docker client → output, with docker's
// names, flags and exit codes.
package container

import (
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
)

// NewCommand returns `berth container` with all its subcommands.
func NewCommand(cli *command.CLI) *cobra.Command {
	cmd := &cobra.Command{Use: "container", Short: "Manage containers", Args: cobra.NoArgs}
	cmd.AddCommand(commands(cli)...)
	cmd.AddCommand(newPruneCommand(cli))
	return cmd
}

// TopLevel returns the commands docker also offers at the top level
// (run, ps, rm, ...); the top-level inspect is the generic one (system).
func TopLevel(cli *command.CLI) []*cobra.Command {
	var out []*cobra.Command
	for _, c := range commands(cli) {
		if c.Name() != "inspect" {
			out = append(out, c)
		}
	}
	return out
}

func commands(cli *command.CLI) []*cobra.Command {
	return []*cobra.Command{
		newRunCommand(cli), newCreateCommand(cli), newStartCommand(cli), newStopCommand(cli),
		newRestartCommand(cli), newKillCommand(cli), newRmCommand(cli), newPsCommand(cli),
		newInspectCommand(cli), newLogsCommand(cli), newWaitCommand(cli), newExecCommand(cli),
		newPauseCommand(cli), newUnpauseCommand(cli), newTopCommand(cli), newRenameCommand(cli),
		newCpCommand(cli), newAttachCommand(cli), newStatsCommand(cli), newUpdateCommand(cli),
		newPortCommand(cli),
	}
}
