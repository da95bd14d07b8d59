// Package image holds the image commands of the berth CLI (images and
// `image ls/inspect/history/tag/rm/prune/load/save/import`) and the
// container commands that make or read layers (commit, diff, export),
// with docker's names, flags, output and exit codes.
package image

import (
	"context"
	"io"
	"os"

	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/berth-project/berth/internal/cli/command"
)

// NewCommand returns `berth image` with its subcommands.
func NewCommand(cli *command.CLI) *cobra.Command {
	cmd := &cobra.Command{Use: "image", Short: "Manage images", Args: cobra.NoArgs}
	cmd.AddCommand(
		newListCommand(cli, "ls"), newInspectCommand(cli), newHistoryCommand(cli), newTagCommand(cli),
		newRemoveCommand(cli, "rm"), newPruneCommand(cli), newLoadCommand(cli), newSaveCommand(cli),
		newImportCommand(cli),
	)
	return cmd
}

// TopLevel returns the image commands docker also has at the top level.
func TopLevel(cli *command.CLI) []*cobra.Command {
	return append([]*cobra.Command{
		newListCommand(cli, "images"), newRemoveCommand(cli, "rmi"), newHistoryCommand(cli), newTagCommand(cli),
		newLoadCommand(cli), newSaveCommand(cli), newImportCommand(cli),
	}, ContainerCommands(cli)...)
}

// ContainerCommands returns commit, diff and export, which docker has
// under `container` and at the top level.
func ContainerCommands(cli *command.CLI) []*cobra.Command {
	return []*cobra.Command{newCommitCommand(cli), newDiffCommand(cli), newExportCommand(cli)}
}

func apiClient(ctx context.Context, cli *command.CLI) (*client.Client, error) {
	c, err := cli.Client(ctx)
	if err != nil {
		return nil, command.Failure(err)
	}
	return c, nil
}

// isTerminal reports whether f is a terminal.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}

// displayJSON prints a JSON message stream (load, import) as docker does;
// an error message in the stream becomes the command's error.
func displayJSON(cli *command.CLI, r io.Reader) error {
	fd, tty := uintptr(0), false
	if f, ok := cli.Out.(*os.File); ok {
		fd, tty = f.Fd(), term.IsTerminal(int(f.Fd()))
	}
	if err := jsonmessage.DisplayJSONMessagesStream(r, cli.Out, fd, tty, nil); err != nil {
		return command.StatusError{Status: err.Error(), StatusCode: 1}
	}
	return nil
}
