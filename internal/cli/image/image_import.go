package image

import (
	"io"
	"os"
	"strings"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/image/platform"
)

func newImportCommand(cli *command.CLI) *cobra.Command {
	var changes []string
	var message, plat string
	cmd := &cobra.Command{
		Use:   "import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
		Short: "Import the contents from a tarball to create a filesystem image",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			src := client.ImageImportSource{SourceName: "-"}
			switch {
			case args[0] == "-":
				src.Source = cli.In
			case strings.Contains(args[0], "://"):
				src.SourceName = args[0]
			default:
				f, err := os.Open(args[0])
				if err != nil {
					return command.StatusError{Status: err.Error(), StatusCode: 1}
				}
				defer f.Close()
				src.Source = f
			}
			if src.Source == nil {
				src.Source = strings.NewReader("")
			}
			ref := ""
			if len(args) == 2 {
				ref = args[1]
			}
			opts := client.ImageImportOptions{Message: message, Changes: changes}
			if plat != "" {
				p, err := platform.Parse(plat)
				if err != nil {
					return command.StatusError{Status: err.Error(), StatusCode: 125}
				}
				opts.Platform = p
			}
			c, err := apiClient(ctx, cli)
			if err != nil {
				return err
			}
			res, err := c.ImageImport(ctx, src, ref, opts)
			if err != nil {
				return command.Failure(err)
			}
			defer res.Close()
			return displayJSON(cli, io.Reader(res))
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&changes, "change", "c", nil, "Apply Dockerfile instruction to the created image")
	fl.StringVarP(&message, "message", "m", "", "Set commit message for imported image")
	fl.StringVar(&plat, "platform", "", "Set platform if server is multi-platform capable")
	return cmd
}
