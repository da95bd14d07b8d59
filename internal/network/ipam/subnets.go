package ipam

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/berth-project/berth/internal/errdefs"
)

// AddressPool is where default subnets come from: Base cut into subnets of
// Size bits (Docker's --default-address-pool base=…,size=…).
type AddressPool struct {
	Base netip.Prefix
	Size int
}

func (p AddressPool) String() string { return fmt.Sprintf("base=%s,size=%d", p.Base, p.Size) }

// DefaultPools are Docker's default address pools: 172.17-31.0.0/16, then
// 192.168.0.0/16 cut into /20s.
func DefaultPools() []AddressPool {
	var out []AddressPool
	for i := 17; i <= 31; i++ {
		out = append(out, AddressPool{Base: netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(i), 0, 0}), 16), Size: 16})
	}
	return append(out, AddressPool{Base: netip.MustParsePrefix("192.168.0.0/16"), Size: 20})
}

// ParseAddressPool parses "base=10.10.0.0/16,size=24".
func ParseAddressPool(s string) (AddressPool, error) {
	var p AddressPool
	for _, f := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		switch k {
		case "base":
			b, err := netip.ParsePrefix(v)
			if err != nil || !b.Addr().Is4() {
				return p, fmt.Errorf("invalid address pool %q: base must be an IPv4 CIDR", s)
			}
			p.Base = b.Masked()
		case "size":
			n, err := strconv.Atoi(v)
			if err != nil {
				return p, fmt.Errorf("invalid address pool %q: bad size", s)
			}
			p.Size = n
		default:
			return p, fmt.Errorf("invalid address pool %q: unknown field %q", s, k)
		}
	}
	if !p.Base.IsValid() || p.Size < p.Base.Bits() || p.Size > 30 {
		return p, fmt.Errorf("invalid address pool %q: want base=CIDR,size=N with the base's bits <= N <= 30", s)
	}
	return p, nil
}

// Choose returns the first subnet of the pools that overlaps none of
// taken (the host's routes and the other networks' subnets).
func Choose(pools []AddressPool, taken []netip.Prefix) (netip.Prefix, error) {
	for _, p := range pools {
		step := uint64(1) << (32 - p.Size)
		start := addrToUint(p.Base.Addr())
		end := start + (uint64(1) << (32 - p.Base.Bits()))
		for a := start; a < end; a += step {
			cand := netip.PrefixFrom(uintToAddr(a), p.Size)
			if !overlapsAny(cand, taken) {
				return cand, nil
			}
		}
	}
	return netip.Prefix{}, errdefs.Unavailable(fmt.Errorf("all predefined address pools have been fully subnetted"))
}

// Clashes reports whether subnet overlaps any of taken.
func Clashes(subnet netip.Prefix, taken []netip.Prefix) bool { return overlapsAny(subnet, taken) }

func overlapsAny(p netip.Prefix, taken []netip.Prefix) bool {
	for _, t := range taken {
		if t.Bits() == 0 {
			continue // a default route overlaps everything and clashes with nothing
		}
		if p.Overlaps(t) {
			return true
		}
	}
	return false
}

func addrToUint(a netip.Addr) uint64 {
	b := a.As4()
	return uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
}

func uintToAddr(n uint64) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}
