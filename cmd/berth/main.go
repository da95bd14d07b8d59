// Command berth is the whole container stack in one binary: the OCI runtime
// (`berth runtime …`, runc's command line), the daemon, the per-container
// shim and the Docker-compatible CLI (see internal/dispatch).
package main

import (
	"os"

	"github.com/berth-project/berth/internal/dispatch"
)

func main() {
	os.Exit(dispatch.Run(os.Args[1:]))
}
