// Command build compiles one of berth's static C programs:
//
//	go run ../staticprog/build -o berth-shim csrc
//
// (the form `go generate` uses in the program's package directory).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/berth-project/berth/internal/staticprog"
)

func main() {
	out := flag.String("o", "", "output file")
	flag.Parse()
	if *out == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: build -o OUT SRCDIR")
		os.Exit(2)
	}
	if err := staticprog.Build(*out, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
}
