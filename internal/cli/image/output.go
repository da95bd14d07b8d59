package image

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/berth-project/berth/internal/cli/command"
)

// writeOutput copies r to the file path, or to the CLI's stdout when path
// is empty (never to a terminal). A file is written next to its final
// name and renamed into place, so a failure leaves no partial file.
func writeOutput(cli *command.CLI, path string, r io.Reader) error {
	if path == "" {
		if isTerminal(cli.Out) {
			return command.StatusError{Status: "cowardly refusing to save to a terminal. Use the -o flag or redirect", StatusCode: 1}
		}
		_, err := io.Copy(cli.Out, r)
		return apiError(err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".berth-"+filepath.Base(path)+"-*")
	if err != nil {
		return command.StatusError{Status: fmt.Sprintf("failed to save: %v", err), StatusCode: 1}
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		os.Remove(f.Name())
		return apiError(err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		os.Remove(f.Name())
		return apiError(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return apiError(err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return command.StatusError{Status: fmt.Sprintf("failed to save: %v", err), StatusCode: 1}
	}
	return nil
}
