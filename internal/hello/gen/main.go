// Command gen builds the hello program for this architecture next to its
// source (run by `go generate ./internal/hello`).
package main

import (
	"fmt"
	"os"

	"github.com/berth-project/berth/internal/hello"
)

func main() {
	if err := hello.Build(".", hello.Binary()); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
