package container

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/berth-project/berth/internal/cli/command"
	registrycmd "github.com/berth-project/berth/internal/cli/registry"
	"github.com/berth-project/berth/internal/image/reference"
)

// pullOptions are the image pull flags of run and create.
type pullOptions struct {
	policy   string // missing, always, never
	platform string
	quiet    bool
}

func addPullFlags(fs *pflag.FlagSet, o *pullOptions) {
	fs.StringVar(&o.policy, "pull", "missing", `Pull image before running ("always", "missing", "never")`)
	fs.StringVar(&o.platform, "platform", "", "Set platform if server is multi-platform capable")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "Suppress the pull output")
}

func (o pullOptions) validate() error {
	switch o.policy {
	case "missing", "always", "never":
		return nil
	}
	return fmt.Errorf("invalid pull option: '%s': must be one of \"always\", \"missing\" or \"never\"", o.policy)
}

// pull pulls image as run and create do, progress on stderr.
func (o pullOptions) pull(ctx context.Context, cli *command.CLI, image string) error {
	var out io.Writer = cli.Err
	if o.quiet {
		out = io.Discard
	}
	return registrycmd.Pull(ctx, cli, image, o.platform, out)
}

// isNoSuchImage reports whether a create failed for a missing image.
func isNoSuchImage(err error) bool {
	return command.IsNotFound(err) && strings.Contains(err.Error(), "No such image")
}

// withLatest names image as docker does when it reports it missing.
func withLatest(image string) string {
	n, err := reference.ParseNamed(image)
	if err != nil || reference.Tag(n) != "" || reference.Digest(n) != "" {
		return image
	}
	return image + ":latest"
}
