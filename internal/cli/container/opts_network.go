package container

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/spf13/pflag"
)

// networkOptions are the networking flags of run and create.
type networkOptions struct {
	networks, aliases, publish, expose []string
	dns, dnsSearch, dnsOptions         []string
	ip, mac, domainname                string
	publishAll                         bool
}

func addNetworkFlags(fs *pflag.FlagSet, o *networkOptions) {
	fs.StringArrayVar(&o.networks, "network", nil, "Connect a container to a network")
	fs.StringArrayVar(&o.networks, "net", nil, "Connect a container to a network")
	fs.MarkHidden("net")
	fs.StringArrayVar(&o.aliases, "network-alias", nil, "Add network-scoped alias for the container")
	fs.StringArrayVar(&o.aliases, "net-alias", nil, "Add network-scoped alias for the container")
	fs.MarkHidden("net-alias")
	fs.StringArrayVarP(&o.publish, "publish", "p", nil, "Publish a container's port(s) to the host")
	fs.BoolVarP(&o.publishAll, "publish-all", "P", false, "Publish all exposed ports to random ports")
	fs.StringArrayVar(&o.expose, "expose", nil, "Expose a port or a range of ports")
	fs.StringArrayVar(&o.dns, "dns", nil, "Set custom DNS servers")
	fs.StringArrayVar(&o.dnsSearch, "dns-search", nil, "Set custom DNS search domains")
	fs.StringArrayVar(&o.dnsOptions, "dns-option", nil, "Set DNS options")
	fs.StringArrayVar(&o.dnsOptions, "dns-opt", nil, "Set DNS options")
	fs.MarkHidden("dns-opt")
	fs.StringVar(&o.ip, "ip", "", "IPv4 address (e.g., 172.30.100.104)")
	fs.StringVar(&o.mac, "mac-address", "", "Container MAC address (e.g., 92:d0:c6:0a:29:33)")
	fs.StringVar(&o.domainname, "domainname", "", "Container NIS domain name")
}

// apply puts the flags into the create request.
func (o *networkOptions) apply(cfg *container.Config, hc *container.HostConfig) (*network.NetworkingConfig, error) {
	cfg.Domainname = o.domainname
	hc.DNSSearch, hc.DNSOptions = o.dnsSearch, o.dnsOptions
	for _, d := range o.dns {
		a, err := netip.ParseAddr(d)
		if err != nil {
			return nil, invalid("invalid argument %q for \"--dns\" flag: %s is not an ip address", d, d)
		}
		hc.DNS = append(hc.DNS, a)
	}
	hc.PublishAllPorts = o.publishAll
	for _, e := range o.expose {
		ports, err := parsePortRange(e)
		if err != nil {
			return nil, invalid("invalid range format for --expose: %s, error: %v", e, err)
		}
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = network.PortSet{}
		}
		for _, p := range ports {
			cfg.ExposedPorts[p] = struct{}{}
		}
	}
	for _, spec := range o.publish {
		pm, err := parsePublish(spec)
		if err != nil {
			return nil, invalid("invalid argument %q for \"-p, --publish\" flag: %v", spec, err)
		}
		if hc.PortBindings == nil {
			hc.PortBindings = network.PortMap{}
		}
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = network.PortSet{}
		}
		for p, bs := range pm {
			hc.PortBindings[p] = append(hc.PortBindings[p], bs...)
			cfg.ExposedPorts[p] = struct{}{}
		}
	}
	if len(o.networks) > 0 {
		hc.NetworkMode = container.NetworkMode(o.networks[0])
	}
	es := &network.EndpointSettings{Aliases: o.aliases}
	if o.ip != "" {
		a, err := netip.ParseAddr(o.ip)
		if err != nil || !a.Is4() {
			return nil, invalid("invalid argument %q for \"--ip\" flag: invalid IPv4 address", o.ip)
		}
		es.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: a}
	}
	if o.mac != "" {
		m, err := net.ParseMAC(o.mac)
		if err != nil {
			return nil, invalid("invalid argument %q for \"--mac-address\" flag: %v", o.mac, err)
		}
		es.MacAddress = network.HardwareAddr(m)
	}
	special := func(n string) bool {
		m := container.NetworkMode(n)
		return n == "" || n == "default" || m.IsHost() || m.IsNone() || m.IsContainer()
	}
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{}}
	if len(o.networks) == 0 || special(o.networks[0]) {
		if len(o.aliases) > 0 || o.ip != "" || o.mac != "" {
			if len(o.networks) == 0 || o.networks[0] == "default" {
				nc.EndpointsConfig["bridge"] = es
			} else {
				return nil, invalid("conflicting options: --ip, --network-alias and --mac-address need a bridge network")
			}
		}
	} else {
		nc.EndpointsConfig[o.networks[0]] = es
	}
	for _, n := range o.networks[min(1, len(o.networks)):] {
		if special(n) {
			return nil, invalid("conflicting options: cannot attach both user-defined and non-user-defined network-modes")
		}
		nc.EndpointsConfig[n] = &network.EndpointSettings{}
	}
	return nc, nil
}

// parsePublish parses -p [ip:][hostPort[-end]:]containerPort[-end][/proto].
func parsePublish(spec string) (network.PortMap, error) {
	rest, proto, _ := strings.Cut(spec, "/")
	if proto == "" {
		proto = "tcp"
	}
	var ip, host, ctr string
	if strings.HasPrefix(rest, "[") {
		end := strings.Index(rest, "]")
		if end < 0 {
			return nil, fmt.Errorf("invalid IP address")
		}
		ip, rest = rest[1:end], strings.TrimPrefix(rest[end+1:], ":")
	}
	parts := strings.Split(rest, ":")
	switch {
	case ip != "" && len(parts) == 2:
		host, ctr = parts[0], parts[1]
	case ip == "" && len(parts) == 1:
		ctr = parts[0]
	case ip == "" && len(parts) == 2:
		host, ctr = parts[0], parts[1]
	case ip == "" && len(parts) == 3:
		ip, host, ctr = parts[0], parts[1], parts[2]
	default:
		return nil, fmt.Errorf("invalid port format")
	}
	var hostIP netip.Addr
	if ip != "" {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return nil, fmt.Errorf("invalid IP address: %s", ip)
		}
		hostIP = a
	}
	cs, ce, err := portRange(ctr)
	if err != nil {
		return nil, fmt.Errorf("invalid containerPort: %s", ctr)
	}
	var hs, he uint16
	if host != "" {
		if hs, he, err = portRange(host); err != nil {
			return nil, fmt.Errorf("invalid hostPort: %s", host)
		}
	}
	n := int(ce - cs)
	if host != "" && n > 0 && int(he-hs) != n {
		return nil, fmt.Errorf("invalid ranges specified for container and host Ports: %s and %s", ctr, host)
	}
	out := network.PortMap{}
	for i := 0; i <= n; i++ {
		p, ok := network.PortFrom(cs+uint16(i), network.IPProtocol(strings.ToLower(proto)))
		if !ok {
			return nil, fmt.Errorf("invalid proto: %s", proto)
		}
		b := network.PortBinding{HostIP: hostIP}
		switch {
		case host == "":
		case n == 0 && he != hs:
			b.HostPort = fmt.Sprintf("%d-%d", hs, he)
		default:
			b.HostPort = strconv.Itoa(int(hs) + i)
		}
		out[p] = append(out[p], b)
	}
	return out, nil
}

// parsePortRange parses --expose 80, 80/udp or 8000-8010/tcp.
func parsePortRange(s string) ([]network.Port, error) {
	r, proto, _ := strings.Cut(s, "/")
	if proto == "" {
		proto = "tcp"
	}
	a, b, err := portRange(r)
	if err != nil {
		return nil, err
	}
	var out []network.Port
	for p := int(a); p <= int(b); p++ {
		port, ok := network.PortFrom(uint16(p), network.IPProtocol(strings.ToLower(proto)))
		if !ok {
			return nil, fmt.Errorf("invalid proto: %s", proto)
		}
		out = append(out, port)
	}
	return out, nil
}

func portRange(s string) (uint16, uint16, error) {
	a, b, isRange := strings.Cut(s, "-")
	lo, err := strconv.ParseUint(a, 10, 16)
	if err != nil || lo == 0 {
		return 0, 0, fmt.Errorf("invalid port %q", s)
	}
	hi := lo
	if isRange {
		if hi, err = strconv.ParseUint(b, 10, 16); err != nil || hi < lo {
			return 0, 0, fmt.Errorf("invalid port range %q", s)
		}
	}
	return uint16(lo), uint16(hi), nil
}
