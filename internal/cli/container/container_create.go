package container

import (
	"context"
	"fmt"

	"github.com/distribution/reference"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/berth-project/berth/internal/cli/command"
)

func newCreateCommand(cli *command.CLI) *cobra.Command {
	o := &createOptions{}
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create a new container",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := create(cmd.Context(), cli, o, args)
			if err != nil {
				return err
			}
			fmt.Fprintln(cli.Out, id)
			return nil
		},
	}
	addCreateFlags(cmd.Flags(), o)
	return cmd
}

// create makes the container of run/create and returns its ID.
func create(ctx context.Context, cli *command.CLI, o *createOptions, args []string) (string, error) {
	if _, err := reference.ParseAnyReference(args[0]); err != nil {
		return "", statusErr(125, err.Error())
	}
	cfg, hc, err := o.toConfig(args[0], args[1:])
	if err != nil {
		return "", err
	}
	nc, err := o.net.apply(cfg, hc)
	if err != nil {
		return "", err
	}
	if o.tty {
		if f, ok := cli.StdinFile(); ok && term.IsTerminal(int(f.Fd())) {
			if w, h, err := term.GetSize(int(f.Fd())); err == nil {
				hc.ConsoleSize = [2]uint{uint(h), uint(w)}
			}
		}
	}
	if err := o.pull.validate(); err != nil {
		return "", statusErr(125, err.Error())
	}
	c, err := cli.Client(ctx)
	if err != nil {
		return "", statusErr(125, err.Error())
	}
	if o.pull.policy == "always" {
		if err := o.pull.pull(ctx, cli, args[0]); err != nil {
			return "", statusErr(125, err.Error())
		}
	}
	opts := client.ContainerCreateOptions{Config: cfg, HostConfig: hc, NetworkingConfig: nc, Name: o.name}
	res, err := c.ContainerCreate(ctx, opts)
	if err != nil && isNoSuchImage(err) && o.pull.policy == "missing" {
		// As docker does: pull the image, then create again.
		fmt.Fprintf(cli.Err, "Unable to find image '%s' locally\n", withLatest(args[0]))
		if perr := o.pull.pull(ctx, cli, args[0]); perr != nil {
			return "", statusErr(125, perr.Error())
		}
		res, err = c.ContainerCreate(ctx, opts)
	}
	if err != nil {
		if command.IsNotFound(err) && o.pull.policy == "never" {
			fmt.Fprintf(cli.Err, "Unable to find image '%s' locally\n", args[0])
		}
		return "", statusErr(125, err.Error())
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(cli.Err, "WARNING: %s\n", w)
	}
	return res.ID, nil
}
