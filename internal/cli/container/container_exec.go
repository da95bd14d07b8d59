package container

import (
	"context"
	"fmt"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
)

type execOptions struct {
	interactive, tty, detach, privileged bool
	user, workdir                        string
	env, envFile                         []string
}

func newExecCommand(cli *command.CLI) *cobra.Command {
	o := &execOptions{}
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
		Short: "Execute a command in a running container",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExec(cmd.Context(), cli, o, args[0], args[1:])
		},
	}
	fl := cmd.Flags()
	fl.SetInterspersed(false)
	fl.BoolVarP(&o.interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	fl.BoolVarP(&o.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	fl.BoolVarP(&o.detach, "detach", "d", false, "Detached mode: run command in the background")
	fl.BoolVar(&o.privileged, "privileged", false, "Give extended privileges to the command")
	fl.StringVarP(&o.user, "user", "u", "", "Username or UID (format: \"<name|uid>[:<group|gid>]\")")
	fl.StringVarP(&o.workdir, "workdir", "w", "", "Working directory inside the container")
	fl.StringArrayVarP(&o.env, "env", "e", nil, "Set environment variables")
	fl.StringArrayVar(&o.envFile, "env-file", nil, "Read in a file of environment variables")
	return cmd
}

func runExec(ctx context.Context, cli *command.CLI, o *execOptions, name string, args []string) error {
	c, err := cli.Client(ctx)
	if err != nil {
		return err
	}
	env, err := (&createOptions{env: o.env, envFile: o.envFile}).environment()
	if err != nil {
		return err
	}
	res, err := c.ExecCreate(ctx, name, client.ExecCreateOptions{
		User: o.user, Privileged: o.privileged, TTY: o.tty, Env: env, WorkingDir: o.workdir, Cmd: args,
		AttachStdin: o.interactive && !o.detach, AttachStdout: !o.detach, AttachStderr: !o.detach,
	})
	if err != nil {
		return err
	}
	if o.detach {
		_, err := c.ExecStart(ctx, res.ID, client.ExecStartOptions{Detach: true, TTY: o.tty})
		return err
	}
	resp, err := c.ExecAttach(ctx, res.ID, client.ExecAttachOptions{TTY: o.tty})
	if err != nil {
		return err
	}
	defer resp.Close()
	resize := func(h, w uint) {
		c.ExecResize(ctx, res.ID, client.ExecResizeOptions{Height: h, Width: w})
	}
	if err := pumpStreams(ctx, cli, resp.HijackedResponse, streamOpts{stdin: o.interactive, tty: o.tty}, resize); err != nil {
		return err
	}
	ins, err := c.ExecInspect(ctx, res.ID, client.ExecInspectOptions{})
	if err != nil {
		return fmt.Errorf("exec inspect: %w", err)
	}
	if ins.ExitCode != 0 {
		return command.StatusError{StatusCode: ins.ExitCode}
	}
	return nil
}
