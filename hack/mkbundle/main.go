// Command mkbundle writes an OCI bundle made from the host's static busybox:
// mkbundle DIR [ARGS...]. Used by the demo and by benchmarks.
package main

import (
	"fmt"
	"os"

	"github.com/berth-project/berth/internal/runtime"
	"github.com/berth-project/berth/internal/testbundle"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: mkbundle DIR [ARGS...]")
		os.Exit(2)
	}
	spec := runtime.ExampleSpec()
	spec.Process.Terminal = false
	if len(os.Args) > 2 {
		spec.Process.Args = os.Args[2:]
	}
	if err := testbundle.Bundle(os.Args[1], spec); err != nil {
		fmt.Fprintln(os.Stderr, "mkbundle:", err)
		os.Exit(1)
	}
}
