// Package dispatch runs the berth subcommand its first argument names:
// the container init entry point, `runtime` (runc's command line), the
// daemon, the shim, the registry server, the DNS resolver and otherwise
// the Docker-style CLI. cmd/berth and test binaries that act as berth
// (internal/integration/harness) share it.
package dispatch

import (
	"github.com/berth-project/berth/internal/cli"
	"github.com/berth-project/berth/internal/daemon"
	"github.com/berth-project/berth/internal/network/dns"
	registrycli "github.com/berth-project/berth/internal/registry/cli"
	"github.com/berth-project/berth/internal/runtime"
	runtimecli "github.com/berth-project/berth/internal/runtime/cli"
	"github.com/berth-project/berth/internal/shim"
)

// IsInit reports whether args (without the program name) start a
// container's init, which Run must reach before anything else.
func IsInit(args []string) bool { return len(args) > 0 && args[0] == runtime.InitCommand }

// Run runs the subcommand of args (without the program name) and returns
// the exit code. The container's init (or an exec'd process before it
// execs the user's program) does not return.
func Run(args []string) int {
	if len(args) == 0 {
		return runtimecli.Main(nil)
	}
	switch args[0] {
	case runtime.InitCommand:
		// Keep this path first and light.
		runtime.Init()
		return 0
	case "runtime":
		return runtimecli.Main(args[1:])
	case "daemon":
		return daemon.Main(args[1:])
	case "shim":
		return shim.Main(args[1:])
	case "registry":
		return registrycli.Main(args[1:])
	case "dns-resolver":
		return dns.Main(args[1:])
	default:
		return cli.Main(args)
	}
}
