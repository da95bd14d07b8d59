// Package ipam hands out the IPv4 addresses of a network: a pool over a
// subnet (optionally restricted to an --ip-range) that allocates round
// robin, as Docker does, so a released address is not reused at once; and
// the choice of a default subnet that clashes with nothing on the host.
package ipam

import (
	"fmt"
	"net/netip"

	"github.com/berth-project/berth/internal/errdefs"
)

// Pool allocates the addresses of one subnet. It is not safe for
// concurrent use; its owner serializes access.
type Pool struct {
	subnet  netip.Prefix
	first   netip.Addr // first and last allocatable address (range bounds)
	last    netip.Addr
	gateway netip.Addr
	used    map[netip.Addr]struct{}
	next    netip.Addr // where the round-robin search starts
}

// NewPool returns a pool over subnet; iprange (zero: the whole subnet)
// restricts dynamic allocation; gateway is never handed out.
func NewPool(subnet, iprange netip.Prefix, gateway netip.Addr) (*Pool, error) {
	subnet = subnet.Masked()
	if !subnet.Addr().Is4() {
		return nil, errdefs.InvalidArgumentf("invalid subnet %s: only IPv4 subnets are supported", subnet)
	}
	if subnet.Bits() > 30 {
		return nil, errdefs.InvalidArgumentf("invalid subnet %s: a subnet needs at least 4 addresses", subnet)
	}
	r := subnet
	if iprange.IsValid() {
		iprange = iprange.Masked()
		if !iprange.Addr().Is4() || !subnet.Contains(iprange.Addr()) || iprange.Bits() < subnet.Bits() {
			return nil, errdefs.InvalidArgumentf("invalid ip-range %s: it must be inside subnet %s", iprange, subnet)
		}
		r = iprange
	}
	first, last := bounds(r)
	// The subnet's network and broadcast addresses are never handed out.
	if first == subnet.Addr() {
		first = first.Next()
	}
	if last == broadcast(subnet) {
		last = last.Prev()
	}
	if gateway.IsValid() && !subnet.Contains(gateway) {
		return nil, errdefs.InvalidArgumentf("invalid gateway %s: it is not in subnet %s", gateway, subnet)
	}
	if first.Compare(last) > 0 {
		return nil, errdefs.InvalidArgumentf("invalid ip-range %s: no usable addresses", r)
	}
	return &Pool{subnet: subnet, first: first, last: last, gateway: gateway, used: map[netip.Addr]struct{}{}, next: first}, nil
}

// Subnet is the pool's subnet.
func (p *Pool) Subnet() netip.Prefix { return p.subnet }

// Allocate returns the next free address after the last one handed out.
func (p *Pool) Allocate() (netip.Addr, error) {
	a := p.next
	for {
		if _, taken := p.used[a]; !taken && a != p.gateway {
			p.used[a] = struct{}{}
			p.next = p.after(a)
			return a, nil
		}
		a = p.after(a)
		if a == p.next {
			return netip.Addr{}, errdefs.Unavailable(fmt.Errorf("no available IPv4 addresses on this network's address pools: %s", p.subnet))
		}
	}
}

// after is the address following a in the range, wrapping around.
func (p *Pool) after(a netip.Addr) netip.Addr {
	if a == p.last {
		return p.first
	}
	return a.Next()
}

// Reserve takes a specific address (--ip, or one in use when the daemon
// restarts). It may lie outside the range but must be in the subnet.
func (p *Pool) Reserve(a netip.Addr) error {
	if !p.subnet.Contains(a) || a == p.subnet.Addr() || a == broadcast(p.subnet) {
		return errdefs.InvalidArgumentf("invalid address %s: it does not belong to any of this network's subnets", a)
	}
	if a == p.gateway {
		return errdefs.Conflictf("address %s is the gateway of this network", a)
	}
	if _, taken := p.used[a]; taken {
		return errdefs.Conflictf("Address already in use: %s", a)
	}
	p.used[a] = struct{}{}
	return nil
}

// Release returns a to the pool.
func (p *Pool) Release(a netip.Addr) { delete(p.used, a) }

// InUse reports how many addresses are handed out.
func (p *Pool) InUse() int { return len(p.used) }

// Used reports whether a is handed out.
func (p *Pool) Used(a netip.Addr) bool { _, ok := p.used[a]; return ok }

func bounds(p netip.Prefix) (netip.Addr, netip.Addr) {
	return p.Masked().Addr(), broadcast(p)
}

func broadcast(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n |= (1 << (32 - p.Bits())) - 1
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// FirstHost is the first usable address of subnet: the default gateway.
func FirstHost(subnet netip.Prefix) netip.Addr { return subnet.Masked().Addr().Next() }
