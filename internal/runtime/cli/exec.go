package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/runtime"
)

func execCmd(g *globals) *cobra.Command {
	var (
		o            runtime.ExecOpts
		processFile  string
		tty          bool
		cwd, user    string
		env, capsAdd []string
		addGids      []string
		noNewPrivs   bool
	)
	cmd := &cobra.Command{
		Use:   "exec [flags] CONTAINER_ID [COMMAND [ARG...]]",
		Short: "run a process inside a running container",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rt := g.runtime()
			var p *specs.Process
			if processFile != "" {
				b, err := readFileOrStdin(processFile)
				if err != nil {
					return err
				}
				p = &specs.Process{}
				if err := json.Unmarshal(b, p); err != nil {
					return fmt.Errorf("parse process file: %w", err)
				}
			} else {
				if len(args) < 2 {
					return fmt.Errorf("exec: a command or --process is required")
				}
				spec, err := rt.Spec(args[0])
				if err != nil {
					return err
				}
				base := *spec.Process
				p = &base
				p.Args = args[1:]
				p.Terminal = tty
				p.Cwd = "/"
				if cwd != "" {
					p.Cwd = cwd
				}
				p.Env = append(append([]string{}, base.Env...), env...)
				if user != "" {
					uid, gid, err := parseUser(user)
					if err != nil {
						return err
					}
					p.User = specs.User{UID: uid, GID: gid}
				}
				for _, s := range addGids {
					n, err := strconv.ParseUint(s, 10, 32)
					if err != nil {
						return fmt.Errorf("invalid additional gid %q", s)
					}
					p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(n))
				}
				if noNewPrivs {
					p.NoNewPrivileges = true
				}
				if len(capsAdd) > 0 && p.Capabilities != nil {
					c := *p.Capabilities
					c.Bounding = append(append([]string{}, c.Bounding...), capsAdd...)
					c.Effective = append(append([]string{}, c.Effective...), capsAdd...)
					c.Permitted = append(append([]string{}, c.Permitted...), capsAdd...)
					p.Capabilities = &c
				}
			}
			if cmd.Flags().Changed("tty") {
				p.Terminal = tty
			}
			if p.Terminal && !o.Detach && o.ConsoleSocket == "" {
				proxy, err := newTTYProxy()
				if err != nil {
					return err
				}
				defer proxy.close()
				o.ConsoleSocket = proxy.path()
			}
			code, err := rt.Exec(context.Background(), args[0], p, o)
			if err != nil {
				return err
			}
			if code != 0 {
				return &exitError{code}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.StringVarP(&processFile, "process", "p", "", "path to a process.json (\"-\" for stdin)")
	f.BoolVarP(&o.Detach, "detach", "d", false, "detach from the process")
	f.BoolVarP(&tty, "tty", "t", false, "allocate a pseudo-TTY")
	f.StringVar(&o.ConsoleSocket, "console-socket", "", "unix socket to receive the pty master")
	f.StringVar(&o.PidFile, "pid-file", "", "file to write the process's pid to")
	f.StringVar(&cwd, "cwd", "", "current working directory in the container")
	f.StringArrayVarP(&env, "env", "e", nil, "set an environment variable")
	f.StringVarP(&user, "user", "u", "", "UID[:GID]")
	f.StringArrayVarP(&capsAdd, "cap", "c", nil, "add a capability")
	f.StringArrayVarP(&addGids, "additional-gids", "g", nil, "additional gids")
	f.BoolVar(&noNewPrivs, "no-new-privs", false, "set no_new_privs")
	f.IntVar(&o.PreserveFDs, "preserve-fds", 0, "pass N additional file descriptors (from 3)")
	f.String("process-label", "", "accepted for runc compatibility")
	f.String("apparmor", "", "accepted for runc compatibility")
	f.Bool("ignore-paused", false, "accepted for runc compatibility")
	f.String("cgroup", "", "accepted for runc compatibility")
	return cmd
}

func parseUser(s string) (uint32, uint32, error) {
	u, g, _ := strings.Cut(s, ":")
	uid, err := strconv.ParseUint(u, 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("invalid user %q: use UID[:GID]", s)
	}
	var gid uint64
	if g != "" {
		if gid, err = strconv.ParseUint(g, 10, 32); err != nil {
			return 0, 0, fmt.Errorf("invalid group in %q", s)
		}
	}
	return uint32(uid), uint32(gid), nil
}

func readFileOrStdin(p string) ([]byte, error) {
	if p == "-" {
		var b []byte
		buf := make([]byte, 32*1024)
		for {
			n, err := os.Stdin.Read(buf)
			b = append(b, buf[:n]...)
			if err != nil {
				return b, nil
			}
		}
	}
	return os.ReadFile(p)
}
