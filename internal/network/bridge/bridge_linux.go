// Package bridge sets up the kernel side of bridge networks through
// netlink: the bridge device with its gateway address, network namespaces
// bound to files, and veth pairs from a bridge into a namespace. It runs
// no ip(8) or sysctl(8) binaries.
package bridge

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Ensure makes bridge name exist, up, with gateway (address/prefix) as its
// only IPv4 address, and returns its interface index. Packets from
// 127.0.0.0/8 may be routed into it (route_localnet), so that published
// ports answer on the host's loopback address.
func Ensure(name string, gateway netip.Prefix, mtu int) (int, error) {
	link, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			return 0, fmt.Errorf("look up bridge %s: %w", name, err)
		}
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name, MTU: mtu, TxQLen: -1}}
		if err := netlink.LinkAdd(br); err != nil {
			return 0, fmt.Errorf("create bridge %s: %w", name, err)
		}
		if link, err = netlink.LinkByName(name); err != nil {
			return 0, fmt.Errorf("look up bridge %s: %w", name, err)
		}
	} else if _, ok := link.(*netlink.Bridge); !ok {
		return 0, fmt.Errorf("%s exists and is not a bridge (%s)", name, link.Type())
	}
	if mtu > 0 && link.Attrs().MTU != mtu {
		if err := netlink.LinkSetMTU(link, mtu); err != nil {
			return 0, fmt.Errorf("set mtu of %s: %w", name, err)
		}
	}
	var addrs []netlink.Addr
	err = retryDump(func() (err error) {
		addrs, err = netlink.AddrList(link, unix.AF_INET)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("list addresses of %s: %w", name, err)
	}
	have := false
	for _, a := range addrs {
		p := prefixOf(a.IPNet)
		if p == gateway {
			have = true
			continue
		}
		if err := netlink.AddrDel(link, &a); err != nil {
			return 0, fmt.Errorf("remove old address %s of %s: %w", p, name, err)
		}
	}
	if !have {
		if err := netlink.AddrAdd(link, &netlink.Addr{IPNet: ipNet(gateway)}); err != nil {
			return 0, fmt.Errorf("add %s to %s: %w", gateway, name, err)
		}
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/conf/"+name+"/route_localnet", []byte("1"), 0o644); err != nil {
		return 0, fmt.Errorf("enable route_localnet on %s: %w", name, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return 0, fmt.Errorf("set %s up: %w", name, err)
	}
	return link.Attrs().Index, nil
}

// Delete removes a link (bridge or veth); a missing one is not an error.
func Delete(name string) error {
	err := netlink.LinkDel(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: name}})
	if err != nil && !isNotFound(err) {
		// LinkDel by name alone needs the index: look it up.
		link, lerr := netlink.LinkByName(name)
		if lerr != nil {
			if isNotFound(lerr) {
				return nil
			}
			return fmt.Errorf("delete %s: %w", name, lerr)
		}
		if err := netlink.LinkDel(link); err != nil && !isNotFound(err) {
			return fmt.Errorf("delete %s: %w", name, err)
		}
	}
	return nil
}

// Links lists the names of the host's links that start with prefix.
func Links(prefix string) ([]string, error) {
	links, err := linkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	var out []string
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Name, prefix) {
			out = append(out, l.Attrs().Name)
		}
	}
	return out, nil
}

// Exists reports whether a link named name exists.
func Exists(name string) bool {
	_, err := netlink.LinkByName(name)
	return err == nil
}

// Route is a host route: its destination and the device it goes out of.
type Route struct {
	Dst netip.Prefix
	Dev string
}

// Routes lists the host's IPv4 routes in all tables except local and
// default routes, with their devices.
func Routes() ([]Route, error) {
	var routes []netlink.Route
	err := retryDump(func() (err error) {
		routes, err = netlink.RouteListFiltered(unix.AF_INET, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	names := map[int]string{}
	if links, err := linkList(); err == nil {
		for _, l := range links {
			names[l.Attrs().Index] = l.Attrs().Name
		}
	}
	var out []Route
	for _, r := range routes {
		if r.Dst == nil || r.Table == unix.RT_TABLE_LOCAL {
			continue
		}
		p := prefixOf(r.Dst)
		if !p.IsValid() || p.Bits() == 0 {
			continue
		}
		out = append(out, Route{Dst: p.Masked(), Dev: names[r.LinkIndex]})
	}
	return out, nil
}

// linkList dumps the host's links; see retryDump.
func linkList() (links []netlink.Link, err error) {
	err = retryDump(func() (err error) {
		links, err = netlink.LinkList()
		return err
	})
	return links, err
}

// retryDump runs a netlink dump again when the kernel reports it was
// interrupted by a change (other daemons and tests make links all the
// time).
func retryDump(dump func() error) error {
	var err error
	for i := 0; i < 20; i++ {
		if err = dump(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			return err
		}
	}
	return err
}

// EnableForwarding turns on IPv4 forwarding (containers reach the outside
// through the host).
func EnableForwarding() error {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err == nil && strings.TrimSpace(string(b)) == "1" {
		return nil
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
		return fmt.Errorf("enable ip forwarding: %w", err)
	}
	return nil
}

// MAC is the hardware address an endpoint with address a gets: Docker's
// 02:42 followed by the IPv4 address, so a reused address keeps its MAC
// and neighbours' caches stay right.
func MAC(a netip.Addr) net.HardwareAddr {
	b := a.As4()
	return net.HardwareAddr{0x02, 0x42, b[0], b[1], b[2], b[3]}
}

func prefixOf(n *net.IPNet) netip.Prefix {
	if n == nil {
		return netip.Prefix{}
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones)
}

func ipNet(p netip.Prefix) *net.IPNet {
	a := p.Addr().As4()
	return &net.IPNet{IP: net.IP(a[:]), Mask: net.CIDRMask(p.Bits(), 32)}
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENOENT)
}
