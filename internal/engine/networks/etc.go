package networks

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	crec "github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/network/resolvconf"
)

// The files every container gets bind-mounted at /etc/hostname,
// /etc/hosts and /etc/resolv.conf; they live in its directory.
const (
	hostnameFile = "hostname"
	hostsFile    = "hosts"
	resolvFile   = "resolv.conf"
)

const hostsHeader = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
	"fe00::\tip6-localnet\nff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"

// hostname is the container's host name: its own, or the start of its ID.
func hostname(c *crec.Container) string {
	if c.Config.Hostname != "" {
		return c.Config.Hostname
	}
	return c.ID[:12]
}

// etc is what goes into the three files.
type etc struct {
	hostname string
	hosts    string
	resolv   []byte
}

// hostsFor renders /etc/hosts: localhost, --add-host entries (host-gateway
// is gw), then the container's own addresses.
func hostsFor(c *crec.Container, own []netip.Addr, gw netip.Addr) (string, error) {
	var b strings.Builder
	b.WriteString(hostsHeader)
	for _, h := range c.HostConfig.ExtraHosts {
		name, ip, ok := strings.Cut(h, ":")
		if !ok {
			name, ip, ok = strings.Cut(h, "=")
		}
		if !ok || name == "" {
			return "", fmt.Errorf("invalid extra host %q: want host:ip", h)
		}
		if ip == "host-gateway" {
			if !gw.IsValid() {
				return "", fmt.Errorf("extra host %q: no gateway to map host-gateway to", h)
			}
			ip = gw.String()
		}
		fmt.Fprintf(&b, "%s\t%s\n", ip, name)
	}
	names := hostname(c)
	if d := c.Config.Domainname; d != "" {
		names = hostname(c) + "." + d + " " + hostname(c)
	}
	for _, a := range own {
		fmt.Fprintf(&b, "%s\t%s\n", a, names)
	}
	return b.String(), nil
}

// resolvFor renders /etc/resolv.conf. With a resolver (user networks) it
// names the gateway; else the --dns servers or the host's (without
// loopback ones, which the container cannot reach; Docker's public
// defaults when none is left).
func resolvFor(c *crec.Container, resolver netip.Addr, host resolvconf.File, keepLoopback bool) []byte {
	hc := c.HostConfig
	f := resolvconf.File{Search: host.Search, Options: host.Options}
	if len(hc.DNSSearch) > 0 {
		f.Search = hc.DNSSearch
	}
	if len(hc.DNSOptions) > 0 {
		f.Options = hc.DNSOptions
	}
	switch {
	case resolver.IsValid():
		f.Nameservers = []string{resolver.String()}
		if !hasNdots(f.Options) {
			f.Options = append(append([]string(nil), f.Options...), "ndots:0")
		}
	case len(hc.DNS) > 0:
		for _, a := range hc.DNS {
			f.Nameservers = append(f.Nameservers, a.String())
		}
	default:
		if !keepLoopback {
			host = host.WithoutLoopback()
		}
		f.Nameservers = host.Nameservers
		if len(f.Nameservers) == 0 {
			f.Nameservers = resolvconf.DefaultNameservers
		}
	}
	return f.Bytes()
}

func hasNdots(opts []string) bool {
	for _, o := range opts {
		if strings.HasPrefix(o, "ndots:") {
			return true
		}
	}
	return false
}

// write puts the files in the container's directory. They are rewritten
// in place: a running container has them bind-mounted.
func (e etc) write(dir string) error {
	for _, f := range []struct {
		name string
		data []byte
	}{
		{hostnameFile, []byte(e.hostname + "\n")},
		{hostsFile, []byte(e.hosts)},
		{resolvFile, e.resolv},
	} {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", f.name, err)
		}
	}
	return nil
}

// copyEtc gives c the files of the container whose network it joins.
func copyEtc(from, to string) error {
	for _, name := range []string{hostnameFile, hostsFile, resolvFile} {
		b, err := os.ReadFile(filepath.Join(from, name))
		if err != nil {
			return fmt.Errorf("read %s of the joined container: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(to, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
