//go:build ignore

// gen writes spec_gen.go: a decode function for every struct type that
// specs.Spec reaches, by encoding/json's field rules. Run with
// `go generate ./internal/runtime/specjson` after updating
// github.com/opencontainers/runtime-spec; TestGenerated fails until then.
package main

import (
	"fmt"
	"os"

	"github.com/berth-project/berth/internal/runtime/specjson/specgen"
)

func main() {
	src, err := specgen.Source()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	if err := os.WriteFile("spec_gen.go", src, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
