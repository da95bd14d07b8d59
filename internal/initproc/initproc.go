// Package initproc holds berth-init, the init process of `run --init`
// containers: a small static C program (csrc/init.c, embedded as
// berth-init, rebuilt with `go generate`) that runs the command as its
// child, forwards signals to it, reaps zombies and exits with the
// command's status, as tini does for Docker. The daemon installs it on
// the host and mounts it at /sbin/docker-init, where Docker mounts tini.
package initproc

import (
	"bytes"
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
)

//go:generate go run ../staticprog/build -o berth-init csrc

// Binary is berth-init (TestBinaryIsReproducible checks that it matches
// its sources).
//
//go:embed berth-init
var Binary []byte

// ContainerPath is where containers see it, as Docker's docker-init.
const ContainerPath = "/sbin/docker-init"

// Install writes berth-init to path (mode 0755) unless it is there
// already; a changed file is replaced by a rename, so that containers
// that mounted the old one keep it.
func Install(path string) error {
	if b, err := os.ReadFile(path); err == nil && bytes.Equal(b, Binary) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
		return fmt.Errorf("install berth-init: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".berth-init.*")
	if err != nil {
		return fmt.Errorf("install berth-init: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(Binary); err != nil {
		tmp.Close()
		return fmt.Errorf("install berth-init: %w", err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return fmt.Errorf("install berth-init: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("install berth-init: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("install berth-init: %w", err)
	}
	return nil
}
