package cli

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/runtime"
)

func addCreateFlags(cmd *cobra.Command, o *runtime.CreateOpts) {
	f := cmd.Flags()
	f.StringVarP(&o.Bundle, "bundle", "b", "", "path to the root of the bundle directory (default: current directory)")
	f.StringVar(&o.PidFile, "pid-file", "", "file to write the container's init pid to")
	f.StringVar(&o.ConsoleSocket, "console-socket", "", "unix socket to receive the pty master of the container's terminal")
	f.BoolVar(&o.NoPivot, "no-pivot", false, "do not use pivot_root (for a rootfs on ramfs)")
	f.BoolVar(&o.NoNewKeyring, "no-new-keyring", false, "do not create a new session keyring")
	f.IntVar(&o.PreserveFDs, "preserve-fds", 0, "pass N additional file descriptors (from 3) to the container")
}

func bundleDefault(o *runtime.CreateOpts) {
	if o.Bundle == "" {
		o.Bundle, _ = os.Getwd()
	}
}

func createCmd(g *globals) *cobra.Command {
	var o runtime.CreateOpts
	cmd := &cobra.Command{
		Use:   "create [flags] CONTAINER_ID",
		Short: "create a container (its process waits for start)",
		Args:  exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			bundleDefault(&o)
			return g.runtime().Create(args[0], o)
		},
	}
	addCreateFlags(cmd, &o)
	return cmd
}

func runCmd(g *globals) *cobra.Command {
	var o runtime.CreateOpts
	var detach bool
	cmd := &cobra.Command{
		Use:   "run [flags] CONTAINER_ID",
		Short: "create and start a container, wait for it and delete it",
		Args:  exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			bundleDefault(&o)
			// Read and decoded once: whether it wants a terminal decides
			// the console socket (a read or parse error is create's).
			if cfg, err := runtime.ReadConfig(o.Bundle); err == nil {
				o.Config = cfg
				if !detach && o.ConsoleSocket == "" && cfg.WantsTerminal() {
					proxy, err := newTTYProxy()
					if err != nil {
						return err
					}
					defer proxy.close()
					o.ConsoleSocket = proxy.path()
				}
			}
			code, err := g.runtime().Run(args[0], o, detach)
			if err != nil {
				return err
			}
			if code != 0 {
				return &exitError{code}
			}
			return nil
		},
	}
	addCreateFlags(cmd, &o)
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "detach from the container's process")
	cmd.Flags().Bool("keep", false, "accepted for runc compatibility")
	return cmd
}

func startCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "start CONTAINER_ID",
		Short: "start a created container",
		Args:  exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.runtime().Start(args[0])
		},
	}
}

func stateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "state CONTAINER_ID",
		Short: "print the state of a container as JSON",
		Args:  exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			st, err := g.runtime().State(args[0])
			if err != nil {
				return err
			}
			return printJSON(st, true)
		},
	}
}

func killCmd(g *globals) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "kill [flags] CONTAINER_ID [SIGNAL]",
		Short: "send a signal (default SIGTERM) to a container's init",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(_ *cobra.Command, args []string) error {
			sig := unix.SIGTERM
			if len(args) == 2 {
				s, err := ParseSignal(args[1])
				if err != nil {
					return err
				}
				sig = s
			}
			return g.runtime().Kill(args[0], sig, all)
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "send the signal to every process of the container")
	return cmd
}

// ParseSignal accepts "KILL", "SIGKILL", "9", "sigkill", "RTMIN+1".
func ParseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("invalid signal %q", s)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	if strings.HasPrefix(name, "SIGRTMIN+") || strings.HasPrefix(name, "SIGRTMAX-") {
		n, err := strconv.Atoi(name[9:])
		if err == nil {
			if name[6] == 'I' && 34+n <= 64 {
				return unix.Signal(34 + n), nil
			}
			if name[6] == 'A' && 64-n >= 34 {
				return unix.Signal(64 - n), nil
			}
		}
	}
	switch name {
	case "SIGRTMIN":
		return unix.Signal(34), nil
	case "SIGRTMAX":
		return unix.Signal(64), nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

func deleteCmd(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "delete [flags] CONTAINER_ID",
		Short: "delete a container's resources",
		Args:  exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			err := g.runtime().Delete(args[0], force)
			if force && err != nil && isNotExist(err) {
				return nil
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill the container if it is running (SIGKILL)")
	return cmd
}

func pauseCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "pause CONTAINER_ID", Short: "freeze all processes of a container", Args: exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error { return g.runtime().Pause(args[0]) }}
}

func resumeCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "resume CONTAINER_ID", Short: "thaw a paused container", Args: exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error { return g.runtime().Resume(args[0]) }}
}
