// Package daemon is the composition root of `berth daemon`: it reads the
// configuration, opens the state, wires the engine to the API server,
// serves the unix socket and handles signals.
package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/berth-project/berth/internal/network/ipam"
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
	// Network is the networking configuration.
	Network NetworkConfig
	// InsecureRegistries may be reached over plain HTTP or unverified TLS
	// (host[:port] or CIDR; loopback always may). RegistryMirrors are
	// tried before Docker Hub. From flags and the config file.
	InsecureRegistries []string
	RegistryMirrors    []string
}

// DefaultConfigFile is read when it exists (--config-file names another).
const DefaultConfigFile = "/etc/berth/daemon.json"

// fileConfig is the part of daemon.json berth reads (dockerd's key names).
type fileConfig struct {
	InsecureRegistries []string `json:"insecure-registries"`
	RegistryMirrors    []string `json:"registry-mirrors"`
}

// loadConfigFile merges the registry settings of a daemon.json into cfg.
func loadConfigFile(cfg *Config, path string, explicit bool) error {
	b, err := os.ReadFile(path)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("config file: %w", err)
	}
	var fc fileConfig
	if err := json.Unmarshal(b, &fc); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	cfg.InsecureRegistries = append(cfg.InsecureRegistries, fc.InsecureRegistries...)
	cfg.RegistryMirrors = append(cfg.RegistryMirrors, fc.RegistryMirrors...)
	return nil
}

// NetworkConfig holds the daemon's networking flags. Every name, address
// and port berth takes on the host can be set, so that daemons (tests)
// run side by side.
type NetworkConfig struct {
	// BIP is the default bridge's gateway/prefix (--bip).
	BIP netip.Prefix
	// Pools are the default address pools (--default-address-pool).
	Pools []ipam.AddressPool
	// BridgePrefix starts every link name (--bridge-prefix).
	BridgePrefix string
	// Table is the nftables table (--nft-table).
	Table string
	// DNSPort is the resolver's port (--dns-port, 0: any free one).
	DNSPort uint16
	// MTU of bridges and veths (--mtu, 0: the kernel's).
	MTU int
}

// envOr is $name, or def when it is unset.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
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
	var bip string
	var pools []string
	fs.StringVar(&bip, "bip", "", "address and prefix of the default bridge (e.g. 172.18.0.1/16)")
	fs.StringArrayVar(&pools, "default-address-pool", nil, "pool of default subnets: base=CIDR,size=N")
	fs.StringVar(&cfg.Network.BridgePrefix, "bridge-prefix", envOr("BERTH_BRIDGE_PREFIX", "berth"), "start of the names of the bridges and veths berth makes ($BERTH_BRIDGE_PREFIX)")
	fs.StringVar(&cfg.Network.Table, "nft-table", envOr("BERTH_NFT_TABLE", "berth"), "nftables table (family inet) of berth's rules ($BERTH_NFT_TABLE)")
	fs.Uint16Var(&cfg.Network.DNSPort, "dns-port", 0, "port of the resolver of container names (0: any free port)")
	fs.IntVar(&cfg.Network.MTU, "mtu", 0, "MTU of bridges and veths (0: the kernel's default)")
	fs.StringArrayVar(&cfg.InsecureRegistries, "insecure-registry", nil, "registry (host[:port] or CIDR) to reach over plain HTTP or unverified TLS")
	fs.StringArrayVar(&cfg.RegistryMirrors, "registry-mirror", nil, "registry mirror URL tried before Docker Hub")
	configFile := fs.String("config-file", DefaultConfigFile, "daemon configuration file (insecure-registries, registry-mirrors)")
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
	if err := loadConfigFile(cfg, *configFile, fs.Changed("config-file")); err != nil {
		return nil, err
	}
	if bip != "" {
		p, err := netip.ParsePrefix(bip)
		if err != nil || !p.Addr().Is4() || p.Bits() > 30 {
			return nil, fmt.Errorf("invalid --bip %q: want an IPv4 address/prefix", bip)
		}
		cfg.Network.BIP = p
	}
	if len(pools) == 0 && os.Getenv("BERTH_DEFAULT_ADDRESS_POOL") != "" {
		pools = []string{os.Getenv("BERTH_DEFAULT_ADDRESS_POOL")}
	}
	for _, s := range pools {
		p, err := ipam.ParseAddressPool(s)
		if err != nil {
			return nil, err
		}
		cfg.Network.Pools = append(cfg.Network.Pools, p)
	}
	if n := len(cfg.Network.BridgePrefix); n == 0 || n > 8 {
		return nil, fmt.Errorf("invalid --bridge-prefix %q: 1 to 8 characters", cfg.Network.BridgePrefix)
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
