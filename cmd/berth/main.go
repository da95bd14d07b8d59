// Command berth is the whole container stack in one binary: the OCI runtime
// (`berth runtime …`, runc's command line), the daemon, the per-container
// shim and the Docker-compatible CLI (see internal/dispatch).
package main

import (
	"os"

	"github.com/berth-project/berth/internal/dispatch"
	"github.com/berth-project/berth/internal/hugetext"
)

func main() {
	args := os.Args[1:]
	if dispatch.IsInit(args) {
		// A container's Go init: it execs the user's program or exits
		// itself, inside the container; nothing of the host's here.
		os.Exit(dispatch.Run(args))
	}
	if len(args) > 0 && args[0] == "daemon" {
		// The daemon maps the pages it runs from for as long as it runs:
		// put them in huge pages before it starts (package hugetext).
		hugetext.Restart()
	}
	// Every command ends here: package hugetext may first put this
	// binary in huge pages for the next ones.
	hugetext.Exit(dispatch.Run(args))
}
