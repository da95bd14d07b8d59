// Command runtimeonly is berth's runtime command line built alone, without
// the daemon, the CLI, the image store and the builder: a yardstick for
// what starting the whole berth binary costs each `berth runtime` call.
// It takes berth's arguments ("runtime [flags] COMMAND ...") and is never
// shipped. docs/ARCHITECTURE.md ("Where the time of a container start
// goes") has the figures:
//
//	go build -trimpath -ldflags '-s -w' -o /tmp/berth-runtime-only ./bench/runtimeonly
//	go run ./bench -berth /tmp/berth-runtime-only -run '^runtime-lifecycle$' -n 200 -out /tmp/runtime-only.md
package main

import (
	"os"

	"github.com/berth-project/berth/internal/runtime"
	runtimecli "github.com/berth-project/berth/internal/runtime/cli"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == runtime.InitCommand {
		runtime.Init()
		return
	}
	if len(os.Args) < 2 || os.Args[1] != "runtime" {
		os.Stderr.WriteString("usage: runtimeonly runtime [flags] COMMAND ...\n")
		os.Exit(2)
	}
	os.Exit(runtimecli.Main(os.Args[2:]))
}
