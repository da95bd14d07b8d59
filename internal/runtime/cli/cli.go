// Package cli is runc's command line on top of package runtime, so that
// containerd, podman, dockerd and people can drive berth as their OCI
// runtime: `berth runtime [global flags] <command> ...`.
package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/runtime"
)

// Version is set at build time.
var Version = "0.1.0-dev"

type globals struct {
	root      string
	log       string
	logFormat string
	debug     bool
	logFile   io.WriteCloser
}

func (g *globals) runtime() *runtime.Runtime {
	return &runtime.Runtime{Root: g.root,
		Warn:  func(f string, a ...any) { g.logMsg("warning", fmt.Sprintf(f, a...)) },
		Debug: func(f string, a ...any) { g.logMsg("debug", fmt.Sprintf(f, a...)) }}
}

func (g *globals) logMsg(level, msg string) {
	if g.logFile != nil {
		if g.logFormat == "json" {
			b, _ := json.Marshal(map[string]string{"level": level, "msg": msg, "time": time.Now().UTC().Format(time.RFC3339Nano)})
			fmt.Fprintf(g.logFile, "%s\n", b)
		} else {
			fmt.Fprintf(g.logFile, "time=%q level=%s msg=%q\n", time.Now().UTC().Format(time.RFC3339Nano), level, msg)
		}
	}
	if level != "debug" || g.debug {
		fmt.Fprintf(os.Stderr, "berth runtime: %s: %s\n", level, msg)
	}
}

// exitError carries a process exit code out of a command.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// Main runs the runtime command line with args (without "runtime") and
// returns the process exit code.
func Main(args []string) int {
	g := &globals{}
	root := &cobra.Command{
		Use:           "berth runtime",
		Short:         "berth's OCI runtime, with runc's command line",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if g.log != "" {
				f, err := os.OpenFile(g.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_SYNC, 0o644)
				if err != nil {
					return fmt.Errorf("open log file: %w", err)
				}
				g.logFile = f
			}
			return nil
		},
	}
	root.SetVersionTemplate("berth runtime version {{.Version}}\nspec: " + specVersion() + "\n")
	f := root.PersistentFlags()
	f.StringVar(&g.root, "root", "/run/berth/runtime", "root directory for storage of container state")
	f.StringVar(&g.log, "log", "", "log file path (default: stderr only)")
	f.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	f.BoolVar(&g.debug, "debug", false, "enable debug output")
	// Accepted for runc compatibility; berth manages cgroupfs directly.
	f.Bool("systemd-cgroup", false, "accepted for runc compatibility (cgroupfs is used)")
	f.String("rootless", "auto", "accepted for runc compatibility")
	f.String("criu", "criu", "accepted for runc compatibility (checkpoint is not supported)")
	_ = f.MarkHidden("criu")

	// No shell completion command: runc has none, and making it costs
	// every invocation.
	root.CompletionOptions.DisableDefaultCmd = true
	commands := map[string]func(*globals) *cobra.Command{"create": createCmd, "start": startCmd, "run": runCmd,
		"state": stateCmd, "kill": killCmd, "delete": deleteCmd, "exec": execCmd, "ps": psCmd, "pause": pauseCmd,
		"resume": resumeCmd, "list": listCmd, "events": eventsCmd, "features": featuresCmd, "spec": specCmd,
		"update": updateCmd}
	cmdName := commandName(args)
	if cmdName == "run" || cmdName == "create" {
		// Making a container keeps more goroutines ready at once than
		// this machine has CPUs (the cloning thread, the signal relay, the
		// main path), and some hold their P inside a slow system call (a
		// network namespace, a cgroup mkdir) until the Go runtime's
		// monitor takes it back. One P more lets the kernel run whichever
		// thread is ready: runtime-lifecycle 0.1–0.3 ms faster on 2 CPUs
		// (docs/ARCHITECTURE.md). The cloning thread starts now, before
		// the spec is read (runtime.Prestart).
		if n := goruntime.GOMAXPROCS(0); n < 4 {
			goruntime.GOMAXPROCS(n + 1)
		}
		runtime.Prestart()
	}
	if mk, ok := commands[cmdName]; ok {
		// Engines call one command per process: build only that one.
		root.AddCommand(mk(g))
	} else {
		for _, name := range []string{"create", "start", "run", "state", "kill", "delete", "exec", "ps",
			"pause", "resume", "list", "events", "features", "spec", "update"} {
			root.AddCommand(commands[name](g))
		}
	}
	root.SetArgs(args)
	err := root.Execute()
	if g.logFile != nil {
		defer g.logFile.Close()
	}
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	g.logMsg("error", err.Error())
	return 1
}

func specVersion() string { return "1.2.0" }

// globalValueFlags are the global flags that take a value.
var globalValueFlags = map[string]bool{"--root": true, "--log": true, "--log-format": true, "--rootless": true, "--criu": true}

// commandName is the first argument that is not a global flag or its
// value ("" when there is none, or on --help or --version).
func commandName(args []string) string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-h" || a == "--help" || a == "-v" || a == "--version":
			return ""
		case globalValueFlags[a]:
			i++ // its value
		case strings.HasPrefix(a, "-"):
		default:
			return a
		}
	}
	return ""
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return fmt.Errorf("%q requires exactly %d argument(s)", cmd.CommandPath(), n)
		}
		return nil
	}
}
