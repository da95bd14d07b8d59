// Command berth is the whole container stack in one binary: the OCI runtime
// (`berth runtime …`, runc's command line), the daemon, the per-container
// shim and the Docker-compatible CLI.
package main

import (
	"os"

	"github.com/berth-project/berth/internal/cli"
	"github.com/berth-project/berth/internal/daemon"
	"github.com/berth-project/berth/internal/network/dns"
	registrycli "github.com/berth-project/berth/internal/registry/cli"
	"github.com/berth-project/berth/internal/runtime"
	runtimecli "github.com/berth-project/berth/internal/runtime/cli"
	"github.com/berth-project/berth/internal/shim"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 {
		switch args[0] {
		case runtime.InitCommand:
			// The container's init (or an exec'd process) before it execs the
			// user's program. Keep this path first and light.
			runtime.Init()
			return
		case "runtime":
			os.Exit(runtimecli.Main(args[1:]))
		case "daemon":
			os.Exit(daemon.Main(args[1:]))
		case "shim":
			os.Exit(shim.Main(args[1:]))
		case "registry":
			os.Exit(registrycli.Main(args[1:]))
		case "dns-resolver":
			os.Exit(dns.Main(args[1:]))
		default:
			os.Exit(cli.Main(args))
		}
	}
	os.Exit(runtimecli.Main(nil))
}
