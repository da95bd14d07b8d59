// Command registry-creds writes what hack/registry-conformance.sh needs to
// run a registry with basic auth and TLS: an htpasswd file (bcrypt) and a
// self-signed certificate for 127.0.0.1 and localhost.
//
//	go run ./hack/registry-creds DIR USER PASSWORD
//
// It writes DIR/htpasswd, DIR/cert.pem and DIR/key.pem.
package main

import (
	"fmt"
	"os"

	"golang.org/x/crypto/bcrypt"

	"github.com/berth-project/berth/internal/registry/creds"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: registry-creds DIR USER PASSWORD")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2], os.Args[3]); err != nil {
		fmt.Fprintln(os.Stderr, "registry-creds:", err)
		os.Exit(1)
	}
}

func run(dir, user, pass string) error {
	_, err := creds.Write(dir, user, pass, bcrypt.DefaultCost)
	return err
}
