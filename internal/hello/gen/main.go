// Command gen builds the hello program for this architecture next to its
// source (run by `go generate ./internal/hello`).
package main

import (
	"fmt"
	"os"

	"github.com/berth-project/berth/internal/hello"
	"github.com/berth-project/berth/internal/staticprog"
)

func main() {
	if err := staticprog.Assemble(hello.Binary(), hello.Source(".")); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
