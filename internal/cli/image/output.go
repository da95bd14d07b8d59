package image

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/moby/moby/client"

	"github.com/berth-project/berth/internal/cli/command"
)

// writeArchive writes the tar stream that open gets from the daemon to
// output, or to stdout unless that is a terminal (as docker refuses).
func writeArchive(ctx context.Context, cli *command.CLI, output string, open func(*client.Client) (io.ReadCloser, error)) error {
	if output == "" && isTerminal(cli.Out) {
		return command.StatusError{Status: "cowardly refusing to save to a terminal. Use the -o flag or redirect", StatusCode: 1}
	}
	c, err := apiClient(ctx, cli)
	if err != nil {
		return err
	}
	rc, err := open(c)
	if err != nil {
		return command.Failure(err)
	}
	defer rc.Close()
	return writeOutput(cli, output, rc)
}

// writeOutput copies r to the file path, or to the CLI's stdout when path
// is empty. A file is written next to its final name and renamed into
// place, so a failure leaves no partial file.
func writeOutput(cli *command.CLI, path string, r io.Reader) error {
	if path == "" {
		_, err := io.Copy(cli.Out, r)
		return command.Failure(err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".berth-"+filepath.Base(path)+"-*")
	if err != nil {
		return command.StatusError{Status: fmt.Sprintf("failed to save: %v", err), StatusCode: 1}
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		os.Remove(f.Name())
		return command.Failure(err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		os.Remove(f.Name())
		return command.Failure(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return command.Failure(err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return command.StatusError{Status: fmt.Sprintf("failed to save: %v", err), StatusCode: 1}
	}
	return nil
}
