// Package system holds `berth version`, `berth info` and `berth system`.
package system

import (
	"fmt"
	"runtime"
	"sort"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/cli/format"
)

// ClientVersion is the CLI's version.
const ClientVersion = "0.1.0-dev"

// NewVersionCommand returns `berth version`.
func NewVersionCommand(cli *command.CLI) *cobra.Command {
	var fmtStr string
	cmd := &cobra.Command{
		Use:   "version [OPTIONS]",
		Short: "Show the berth version information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := cli.Client(ctx)
			if err != nil {
				return err
			}
			v, verr := c.ServerVersion(ctx, client.ServerVersionOptions{})
			info := map[string]any{
				"Client": map[string]any{"Version": ClientVersion, "ApiVersion": c.ClientVersion(), "GoVersion": runtime.Version(), "Os": runtime.GOOS, "Arch": runtime.GOARCH},
			}
			if verr == nil {
				info["Server"] = v
			}
			if fmtStr != "" {
				if err := format.Each(cli.Out, fmtStr, []any{info}); err != nil {
					return err
				}
				return verr
			}
			fmt.Fprintf(cli.Out, "Client:\n Version:\t%s\n API version:\t%s\n Go version:\t%s\n OS/Arch:\t%s/%s\n", ClientVersion, c.ClientVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			if verr != nil {
				return verr
			}
			fmt.Fprintf(cli.Out, "\nServer: %s\n Engine:\n  Version:\t%s\n  API version:\t%s (minimum version %s)\n  OS/Arch:\t%s/%s\n", v.Platform.Name, v.Version, v.APIVersion, v.MinAPIVersion, v.Os, v.Arch)
			return nil
		},
	}
	cmd.Flags().StringVarP(&fmtStr, "format", "f", "", "Format output using a custom template")
	return cmd
}

// NewInfoCommand returns `berth info`.
func NewInfoCommand(cli *command.CLI) *cobra.Command {
	var fmtStr string
	cmd := &cobra.Command{
		Use:   "info [OPTIONS]",
		Short: "Display system-wide information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := cli.Client(ctx)
			if err != nil {
				return err
			}
			res, err := c.Info(ctx, client.InfoOptions{})
			if err != nil {
				return err
			}
			i := res.Info
			if fmtStr != "" {
				return format.Each(cli.Out, fmtStr, []any{i})
			}
			var rts []string
			for n := range i.Runtimes {
				rts = append(rts, n)
			}
			sort.Strings(rts)
			fmt.Fprintf(cli.Out, "Server:\n Containers: %d\n  Running: %d\n  Paused: %d\n  Stopped: %d\n Images: %d\n Server Version: %s\n Storage Driver: %s\n Logging Driver: %s\n Cgroup Driver: %s\n Cgroup Version: %s\n Runtimes: %v\n Default Runtime: %s\n Kernel Version: %s\n Operating System: %s\n OSType: %s\n Architecture: %s\n CPUs: %d\n Total Memory: %d\n Name: %s\n Docker Root Dir: %s\n",
				i.Containers, i.ContainersRunning, i.ContainersPaused, i.ContainersStopped, i.Images, i.ServerVersion,
				i.Driver, i.LoggingDriver, i.CgroupDriver, i.CgroupVersion, rts, i.DefaultRuntime, i.KernelVersion,
				i.OperatingSystem, i.OSType, i.Architecture, i.NCPU, i.MemTotal, i.Name, i.DockerRootDir)
			return nil
		},
	}
	cmd.Flags().StringVarP(&fmtStr, "format", "f", "", "Format output using a custom template")
	return cmd
}

// NewCommand returns `berth system` (info only for now).
func NewCommand(cli *command.CLI) *cobra.Command {
	cmd := &cobra.Command{Use: "system", Short: "Manage berth", Args: cobra.NoArgs}
	cmd.AddCommand(NewInfoCommand(cli), NewEventsCommand(cli), NewPruneCommand(cli), NewDFCommand(cli))
	return cmd
}
