package ipam

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/berth-project/berth/internal/errdefs"
)

func TestPoolRoundRobin(t *testing.T) {
	p, err := NewPool(netip.MustParsePrefix("10.1.0.0/29"), netip.Prefix{}, netip.MustParseAddr("10.1.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := 0; i < 5; i++ {
		a, err := p.Allocate()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a.String())
	}
	want := []string{"10.1.0.2", "10.1.0.3", "10.1.0.4", "10.1.0.5", "10.1.0.6"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("allocation order %v, want %v", got, want)
		}
	}
	if _, err := p.Allocate(); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("exhausted pool: got %v", err)
	}
	p.Release(netip.MustParseAddr("10.1.0.3"))
	p.Release(netip.MustParseAddr("10.1.0.5"))
	// Round robin: the search goes on after the last address handed out.
	if a, _ := p.Allocate(); a.String() != "10.1.0.3" {
		t.Fatalf("after wrap: got %s", a)
	}
	if a, _ := p.Allocate(); a.String() != "10.1.0.5" {
		t.Fatalf("next: got %s", a)
	}
	if p.InUse() != 5 {
		t.Fatalf("in use %d", p.InUse())
	}
}

func TestPoolRangeAndReserve(t *testing.T) {
	p, err := NewPool(netip.MustParsePrefix("10.2.0.0/24"), netip.MustParsePrefix("10.2.0.128/30"), netip.MustParseAddr("10.2.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := p.Allocate(); a.String() != "10.2.0.128" {
		t.Fatalf("range start: %s", a)
	}
	if err := p.Reserve(netip.MustParseAddr("10.2.0.50")); err != nil {
		t.Fatalf("reserve outside range but in subnet: %v", err)
	}
	if err := p.Reserve(netip.MustParseAddr("10.2.0.50")); !errdefs.IsConflict(err) {
		t.Fatalf("double reserve: %v", err)
	}
	if err := p.Reserve(netip.MustParseAddr("10.3.0.5")); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("outside subnet: %v", err)
	}
	if err := p.Reserve(netip.MustParseAddr("10.2.0.1")); !errdefs.IsConflict(err) {
		t.Fatalf("gateway: %v", err)
	}
	if err := p.Reserve(netip.MustParseAddr("10.2.0.255")); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("broadcast: %v", err)
	}
}

func TestPoolBadInput(t *testing.T) {
	for _, c := range []struct{ subnet, rng, gw string }{
		{"10.0.0.0/31", "", ""},
		{"10.0.0.0/24", "10.0.1.0/28", ""},
		{"10.0.0.0/24", "10.0.0.0/16", ""},
		{"10.0.0.0/24", "", "10.0.1.1"},
		{"fd00::/64", "", ""},
	} {
		var r netip.Prefix
		if c.rng != "" {
			r = netip.MustParsePrefix(c.rng)
		}
		var gw netip.Addr
		if c.gw != "" {
			gw = netip.MustParseAddr(c.gw)
		}
		if _, err := NewPool(netip.MustParsePrefix(c.subnet), r, gw); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%v: want invalid argument, got %v", c, err)
		}
	}
}

func TestChoose(t *testing.T) {
	taken := []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/0"),
		netip.MustParsePrefix("172.17.0.0/16"),
		netip.MustParsePrefix("172.18.5.0/24"),
		netip.MustParsePrefix("192.0.2.0/24"),
	}
	got, err := Choose(DefaultPools(), taken)
	if err != nil || got.String() != "172.19.0.0/16" {
		t.Fatalf("got %s, %v", got, err)
	}
	pool, err := ParseAddressPool("base=10.20.0.0/22,size=24")
	if err != nil {
		t.Fatal(err)
	}
	got, err = Choose([]AddressPool{pool}, []netip.Prefix{netip.MustParsePrefix("10.20.0.0/24"), netip.MustParsePrefix("10.20.1.7/32")})
	if err != nil || got.String() != "10.20.2.0/24" {
		t.Fatalf("got %s, %v", got, err)
	}
	if _, err := Choose([]AddressPool{pool}, []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("full pool: %v", err)
	}
	for _, bad := range []string{"base=10.0.0.0/16", "size=24", "base=10.0.0.0/24,size=16", "base=x,size=24", "foo=1"} {
		if _, err := ParseAddressPool(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
