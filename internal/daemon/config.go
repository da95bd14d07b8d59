// Package daemon is the composition root of `berth daemon`: it reads the
// configuration, opens the state, wires the engine to the API server,
// serves the unix socket and handles signals.
package daemon

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
)

// Defaults.
const (
	DefaultHost     = "unix:///run/berth/berth.sock"
	DefaultDataRoot = "/var/lib/berth"
	DefaultExecRoot = "/run/berth"
	// Version is berth's version string.
	Version = "0.1.0-dev"
)

// Config is the daemon's configuration.
type Config struct {
	// Hosts are the sockets to serve ("unix:///path").
	Hosts          []string
	DataRoot       string
	ExecRoot       string
	DefaultRuntime string
	// CgroupParent is the cgroup containers go under (default /berth).
	CgroupParent string
	// Runtimes maps extra runtime names to binaries (--add-runtime N=PATH).
	Runtimes map[string]string
}

// DefaultRuntimeName is "berth", or $BERTH_DEFAULT_RUNTIME when set.
func DefaultRuntimeName() string {
	if v := os.Getenv("BERTH_DEFAULT_RUNTIME"); v != "" {
		return v
	}
	return "berth"
}

func parseFlags(args []string) (*Config, error) {
	fs := pflag.NewFlagSet("berth daemon", pflag.ContinueOnError)
	cfg := &Config{Runtimes: map[string]string{}}
	fs.StringArrayVarP(&cfg.Hosts, "host", "H", nil, "socket to serve (unix:///path)")
	fs.StringVar(&cfg.DataRoot, "data-root", DefaultDataRoot, "root of persistent state")
	fs.StringVar(&cfg.ExecRoot, "exec-root", DefaultExecRoot, "root of runtime state (sockets)")
	fs.StringVar(&cfg.DefaultRuntime, "default-runtime", DefaultRuntimeName(), "default OCI runtime (berth, runc, crun or a path)")
	fs.StringVar(&cfg.CgroupParent, "cgroup-parent", "/berth", "parent cgroup of containers")
	var extra []string
	fs.StringArrayVar(&extra, "add-runtime", nil, "register a runtime NAME=PATH")
	if err := fs.Parse(args); err != nil {
		if err == pflag.ErrHelp {
			return nil, errHelp
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if len(cfg.Hosts) == 0 {
		cfg.Hosts = []string{DefaultHost}
	}
	for _, r := range extra {
		name, path, ok := strings.Cut(r, "=")
		if !ok || name == "" || path == "" {
			return nil, fmt.Errorf("invalid --add-runtime %q: want NAME=PATH", r)
		}
		cfg.Runtimes[name] = path
	}
	return cfg, nil
}

// SocketPath returns the filesystem path of a unix:// host.
func SocketPath(host string) (string, error) {
	p, ok := strings.CutPrefix(host, "unix://")
	if !ok || p == "" {
		return "", fmt.Errorf("unsupported host %q: only unix:///path sockets are supported", host)
	}
	return p, nil
}
