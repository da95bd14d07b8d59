// Package registry holds the registry commands of the berth CLI: pull,
// push, login and logout, with docker's flags, output and exit codes.
// Credentials live in Docker's config.json (and its credential helpers);
// the daemon gets them per request in the X-Registry-Auth header.
package registry

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/distribution/credentials"
	"github.com/berth-project/berth/internal/image/platform"
	"github.com/berth-project/berth/internal/image/reference"
)

// TopLevel returns pull, push, login and logout.
func TopLevel(cli *command.CLI) []*cobra.Command {
	return []*cobra.Command{newPullCommand(cli), newPushCommand(cli), newLoginCommand(cli), newLogoutCommand(cli)}
}

// ImageCommands returns `image pull` and `image push`.
func ImageCommands(cli *command.CLI) []*cobra.Command {
	return []*cobra.Command{newPullCommand(cli), newPushCommand(cli)}
}

// authHeader is the X-Registry-Auth value for the registry of named, from
// config.json or its credential helper ("" when there are none).
func authHeader(named reference.Named) (string, error) {
	ac, err := credentials.Default().Get(reference.Domain(named))
	if err != nil {
		return "", err
	}
	if ac.Username == "" && ac.IdentityToken == "" && ac.RegistryToken == "" {
		return "", nil
	}
	return credentials.EncodeHeader(ac)
}

// display prints a JSON message stream as docker does (progress bars on a
// terminal); an error message in the stream becomes the command's error.
func display(cli *command.CLI, r io.Reader, quiet bool, aux func(jsonstream.Message)) error {
	out := cli.Out
	if quiet {
		out = io.Discard
	}
	return displayTo(out, r, aux)
}

func displayTo(out io.Writer, r io.Reader, aux func(jsonstream.Message)) error {
	fd, tty := uintptr(0), false
	if f, ok := out.(*os.File); ok {
		fd, tty = f.Fd(), term.IsTerminal(int(f.Fd()))
	}
	return jsonmessage.DisplayJSONMessagesStream(r, out, fd, tty, aux)
}

// Pull pulls image (name:latest when untagged) for platform ("": the
// daemon's) with the credentials of config.json, printing the progress to
// out, as run and create do for an image they lack.
func Pull(ctx context.Context, cli *command.CLI, image, plat string, out io.Writer) error {
	named, err := reference.ParseNamed(image)
	if err != nil {
		return err
	}
	if reference.Tag(named) == "" && reference.Digest(named) == "" {
		if named, err = reference.WithTag(named, "latest"); err != nil {
			return err
		}
	}
	return pull(ctx, cli, named, false, plat, out)
}

// pull pulls named (all its tags with all) for platform ("": the
// daemon's) with the credentials of config.json, printing the progress
// to out.
func pull(ctx context.Context, cli *command.CLI, named reference.Named, all bool, plat string, out io.Writer) error {
	opts := client.ImagePullOptions{All: all}
	if plat != "" {
		p, err := platform.Parse(plat)
		if err != nil {
			return err
		}
		opts.Platforms = []ocispec.Platform{p}
	}
	var err error
	if opts.RegistryAuth, err = authHeader(named); err != nil {
		return err
	}
	c, err := cli.Client(ctx)
	if err != nil {
		return err
	}
	resp, err := c.ImagePull(ctx, named.String(), opts)
	if err != nil {
		return err
	}
	defer resp.Close()
	return displayTo(out, resp, nil)
}

// defaultTag adds the tag latest to an untagged name, as docker pull and
// push do unless they move all tags.
func defaultTag(cli *command.CLI, named reference.Named, tagged, all, quiet bool) (reference.Named, error) {
	if all && tagged {
		return nil, fmt.Errorf("tag can't be used with --all-tags/-a")
	}
	if all || tagged {
		return named, nil
	}
	named, err := reference.WithTag(named, "latest")
	if err != nil {
		return nil, err
	}
	if !quiet {
		fmt.Fprintln(cli.Out, "Using default tag: latest")
	}
	return named, nil
}

func newPullCommand(cli *command.CLI) *cobra.Command {
	var all, quiet bool
	var plat string
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short: "Download an image from a registry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			named, err := reference.ParseNamed(args[0])
			if err != nil {
				return command.Failure(err)
			}
			tagged := reference.Tag(named) != "" || reference.Digest(named) != ""
			if named, err = defaultTag(cli, named, tagged, all, quiet); err != nil {
				return command.Failure(err)
			}
			out := cli.Out
			if quiet {
				out = io.Discard
			}
			if err := pull(ctx, cli, named, all, plat, out); err != nil {
				return command.Failure(err)
			}
			fmt.Fprintln(cli.Out, named.String())
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all-tags", "a", false, "Download all tagged images in the repository")
	f.BoolVarP(&quiet, "quiet", "q", false, "Suppress verbose output")
	f.StringVar(&plat, "platform", os.Getenv("DOCKER_DEFAULT_PLATFORM"), "Set platform if server is multi-platform capable")
	f.Bool("disable-content-trust", true, "Skip image verification")
	return cmd
}

func newPushCommand(cli *command.CLI) *cobra.Command {
	var all, quiet bool
	cmd := &cobra.Command{
		Use:   "push [OPTIONS] NAME[:TAG]",
		Short: "Upload an image to a registry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			named, err := reference.ParseNamed(args[0])
			if err != nil {
				return command.Failure(err)
			}
			if reference.Digest(named) != "" {
				return command.Failure(fmt.Errorf("cannot push a digest reference"))
			}
			if named, err = defaultTag(cli, named, reference.Tag(named) != "", all, quiet); err != nil {
				return command.Failure(err)
			}
			opts := client.ImagePushOptions{All: all}
			if opts.RegistryAuth, err = authHeader(named); err != nil {
				return command.Failure(err)
			}
			c, err := cli.Client(ctx)
			if err != nil {
				return command.Failure(err)
			}
			resp, err := c.ImagePush(ctx, named.String(), opts)
			if err != nil {
				return command.Failure(err)
			}
			defer resp.Close()
			if err := display(cli, resp, quiet, func(jsonstream.Message) {}); err != nil {
				return command.Failure(err)
			}
			if quiet {
				fmt.Fprintln(cli.Out, named.String())
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all-tags", "a", false, "Push all tags of an image to the repository")
	f.BoolVarP(&quiet, "quiet", "q", false, "Suppress verbose output")
	f.Bool("disable-content-trust", true, "Skip image signing")
	return cmd
}

// serverKey is the config key of the login server argument ("" means
// Docker Hub).
func serverKey(arg string) string {
	if arg == "" {
		return credentials.IndexServer
	}
	return credentials.ServerKey(strings.TrimSuffix(arg, "/"))
}

func newLoginCommand(cli *command.CLI) *cobra.Command {
	var user, pass string
	var passStdin bool
	cmd := &cobra.Command{
		Use:   "login [OPTIONS] [SERVER]",
		Short: "Authenticate to a registry",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			server := ""
			if len(args) == 1 {
				server = args[0]
			}
			key := serverKey(server)
			if pass != "" && passStdin {
				return command.Failure(fmt.Errorf("--password and --password-stdin are mutually exclusive"))
			}
			if passStdin {
				if user == "" {
					return command.Failure(fmt.Errorf("Must provide --username with --password-stdin"))
				}
				b, err := io.ReadAll(cli.In)
				if err != nil {
					return command.Failure(err)
				}
				pass = strings.TrimRight(string(b), "\r\n")
			}
			if pass != "" && !passStdin {
				fmt.Fprintln(cli.Err, "WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
			}
			store := credentials.Default()
			if user == "" && pass == "" {
				// Try what is stored first, as docker does.
				if ac, err := store.Get(key); err == nil && (ac.Username != "" || ac.IdentityToken != "") {
					if err := login(ctx, cli, store, ac, key); err == nil {
						return nil
					}
				}
			}
			in := bufio.NewReader(cli.In)
			if user == "" {
				fmt.Fprint(cli.Out, "Username: ")
				line, err := in.ReadString('\n')
				user = strings.TrimSpace(line)
				if user == "" {
					if err != nil && err != io.EOF {
						return command.Failure(err)
					}
					return command.Failure(fmt.Errorf("Error: Non-null Username Required"))
				}
			}
			if pass == "" {
				fmt.Fprint(cli.Out, "Password: ")
				if f, ok := cli.In.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
					b, err := term.ReadPassword(int(f.Fd()))
					fmt.Fprintln(cli.Out)
					if err != nil {
						return command.Failure(err)
					}
					pass = string(b)
				} else {
					line, _ := in.ReadString('\n')
					pass = strings.TrimRight(line, "\r\n")
				}
				if pass == "" {
					return command.Failure(fmt.Errorf("Error: Password Required"))
				}
			}
			return login(ctx, cli, store, registry.AuthConfig{Username: user, Password: pass, ServerAddress: key}, key)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&user, "username", "u", "", "Username")
	f.StringVarP(&pass, "password", "p", "", "Password or Personal Access Token (PAT)")
	f.BoolVar(&passStdin, "password-stdin", false, "Take the Password or Personal Access Token (PAT) from stdin")
	return cmd
}

// login asks the daemon to check the credentials, and stores them.
func login(ctx context.Context, cli *command.CLI, store *credentials.Store, ac registry.AuthConfig, key string) error {
	c, err := cli.Client(ctx)
	if err != nil {
		return command.Failure(err)
	}
	ac.ServerAddress = key
	res, err := c.RegistryLogin(ctx, client.RegistryLoginOptions{Username: ac.Username, Password: ac.Password,
		ServerAddress: key, IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken})
	if err != nil {
		return command.Failure(err)
	}
	if res.Auth.IdentityToken != "" {
		ac.Password, ac.IdentityToken = "", res.Auth.IdentityToken
	}
	if err := store.Put(ac); err != nil {
		return command.Failure(fmt.Errorf("Error saving credentials: %w", err))
	}
	if h, _ := store.Helper(key); h == "" {
		fmt.Fprintf(cli.Err, "\nWARNING! Your credentials are stored unencrypted in '%s'.\nConfigure a credential helper to remove this warning. See\nhttps://docs.docker.com/go/credential-store/\n\n", store.Path())
	}
	status := res.Auth.Status
	if status == "" {
		status = "Login Succeeded"
	}
	fmt.Fprintln(cli.Out, status)
	return nil
}

func newLogoutCommand(cli *command.CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "logout [SERVER]",
		Short: "Log out from a registry",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := ""
			if len(args) == 1 {
				server = args[0]
			}
			key := serverKey(server)
			found, err := credentials.Default().Erase(key)
			if err != nil {
				return command.Failure(err)
			}
			if !found {
				fmt.Fprintf(cli.Out, "Not logged in to %s\n", key)
				return nil
			}
			fmt.Fprintf(cli.Out, "Removing login credentials for %s\n", key)
			return nil
		},
	}
}
