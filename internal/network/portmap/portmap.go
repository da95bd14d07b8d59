// Package portmap turns a container's published ports (-p, -P) into
// concrete host ports and holds those ports: a socket is bound to each one
// (never listening; the traffic is DNATed before it reaches a socket) so
// that no other program or container takes it, and a taken port is found
// before the container starts.
package portmap

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/network"

	"github.com/berth-project/berth/internal/errdefs"
)

// Mapping is one published port.
type Mapping struct {
	// HostIP is the host address; unspecified (0.0.0.0) means all.
	HostIP        netip.Addr
	HostPort      uint16
	Proto         string // "tcp" or "udp"
	ContainerPort uint16
}

func (m Mapping) String() string {
	return fmt.Sprintf("%s:%d:%d/%s", m.HostIP, m.HostPort, m.ContainerPort, m.Proto)
}

// Request is one wanted mapping; the host port is any free one in
// [HostStart, HostEnd], or a random free one when both are 0.
type Request struct {
	HostIP             netip.Addr
	HostStart, HostEnd uint16
	Proto              string
	ContainerPort      uint16
}

// Requests turns a container's port bindings (and with publishAll every
// exposed port, on a random host port) into requests, in a stable order.
func Requests(bindings network.PortMap, exposed network.PortSet, publishAll bool) ([]Request, error) {
	var out []Request
	seen := map[network.Port]bool{}
	for p, bs := range bindings {
		proto := string(p.Proto())
		if proto != "tcp" && proto != "udp" {
			return nil, errdefs.InvalidArgumentf("invalid port %s: only tcp and udp can be published", p)
		}
		seen[p] = true
		if len(bs) == 0 {
			bs = []network.PortBinding{{}}
		}
		for _, b := range bs {
			r := Request{HostIP: b.HostIP, Proto: proto, ContainerPort: p.Num()}
			if !r.HostIP.IsValid() {
				r.HostIP = netip.IPv4Unspecified()
			}
			if !r.HostIP.Is4() {
				if r.HostIP.IsUnspecified() {
					continue // "::": berth publishes on IPv4 only
				}
				return nil, errdefs.InvalidArgumentf("invalid host address %s for port %s: only IPv4 addresses are supported", b.HostIP, p)
			}
			lo, hi, err := parseHostPort(b.HostPort)
			if err != nil {
				return nil, err
			}
			r.HostStart, r.HostEnd = lo, hi
			out = append(out, r)
		}
	}
	if publishAll {
		for p := range exposed {
			proto := string(p.Proto())
			if seen[p] || (proto != "tcp" && proto != "udp") {
				continue
			}
			out = append(out, Request{HostIP: netip.IPv4Unspecified(), Proto: proto, ContainerPort: p.Num()})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ContainerPort != out[j].ContainerPort {
			return out[i].ContainerPort < out[j].ContainerPort
		}
		if out[i].Proto != out[j].Proto {
			return out[i].Proto < out[j].Proto
		}
		return out[i].HostIP.Less(out[j].HostIP)
	})
	return out, nil
}

// parseHostPort parses "", "8080" or "8000-8010".
func parseHostPort(s string) (uint16, uint16, error) {
	if s == "" {
		return 0, 0, nil
	}
	a, b, isRange := strings.Cut(s, "-")
	lo, err := strconv.ParseUint(a, 10, 16)
	if err != nil {
		return 0, 0, errdefs.InvalidArgumentf("invalid host port %q", s)
	}
	hi := lo
	if isRange {
		if hi, err = strconv.ParseUint(b, 10, 16); err != nil || hi < lo {
			return 0, 0, errdefs.InvalidArgumentf("invalid host port range %q", s)
		}
	}
	if lo == 0 && hi != 0 {
		return 0, 0, errdefs.InvalidArgumentf("invalid host port range %q", s)
	}
	return uint16(lo), uint16(hi), nil
}

// PortMap renders mappings, plus the exposed ports that are not
// published, as NetworkSettings.Ports.
func PortMap(ms []Mapping, exposed network.PortSet) network.PortMap {
	out := network.PortMap{}
	for p := range exposed {
		out[p] = nil
	}
	for _, m := range ms {
		p, ok := network.PortFrom(m.ContainerPort, network.IPProtocol(m.Proto))
		if !ok {
			continue
		}
		out[p] = append(out[p], network.PortBinding{HostIP: m.HostIP, HostPort: strconv.Itoa(int(m.HostPort))})
	}
	return out
}

// FromPortMap reads back the mappings PortMap rendered.
func FromPortMap(pm network.PortMap) []Mapping {
	var out []Mapping
	for p, bs := range pm {
		for _, b := range bs {
			n, err := strconv.ParseUint(b.HostPort, 10, 16)
			if err != nil || n == 0 {
				continue
			}
			ip := b.HostIP
			if !ip.IsValid() {
				ip = netip.IPv4Unspecified()
			}
			out = append(out, Mapping{HostIP: ip, HostPort: uint16(n), Proto: string(p.Proto()), ContainerPort: p.Num()})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}
