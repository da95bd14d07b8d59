package networks

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"

	crec "github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/network/resolvconf"
)

func testContainer() *crec.Container {
	return &crec.Container{
		ID:         "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		Name:       "web",
		Config:     &container.Config{},
		HostConfig: &container.HostConfig{},
	}
}

func TestHostsFor(t *testing.T) {
	c := testContainer()
	c.Config.Domainname = "example.org"
	c.HostConfig.ExtraHosts = []string{"db:10.1.1.1", "gw:host-gateway", "eq=10.2.2.2"}
	got, err := hostsFor(c, []netip.Addr{netip.MustParseAddr("172.20.0.2")}, netip.MustParseAddr("172.20.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"127.0.0.1\tlocalhost\n", "10.1.1.1\tdb\n", "172.20.0.1\tgw\n", "10.2.2.2\teq\n", "172.20.0.2\t0123456789ab.example.org 0123456789ab\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("hosts lacks %q:\n%s", want, got)
		}
	}
	c.HostConfig.ExtraHosts = []string{"nogw:host-gateway"}
	if _, err := hostsFor(c, nil, netip.Addr{}); err == nil {
		t.Error("host-gateway without a gateway accepted")
	}
}

func TestResolvFor(t *testing.T) {
	host := resolvconf.Parse([]byte("nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch corp.example\noptions edns0\n"))
	c := testContainer()
	if got := string(resolvFor(c, netip.Addr{}, host, false)); got != "nameserver 10.0.0.2\nsearch corp.example\noptions edns0\n" {
		t.Errorf("default bridge: %q", got)
	}
	if got := string(resolvFor(c, netip.MustParseAddr("172.20.0.1"), host, false)); got != "nameserver 172.20.0.1\nsearch corp.example\noptions edns0 ndots:0\n" {
		t.Errorf("user network: %q", got)
	}
	c.HostConfig.DNS = []netip.Addr{netip.MustParseAddr("9.9.9.9")}
	c.HostConfig.DNSSearch = []string{"a.example"}
	c.HostConfig.DNSOptions = []string{"ndots:2"}
	if got := string(resolvFor(c, netip.Addr{}, host, false)); got != "nameserver 9.9.9.9\nsearch a.example\noptions ndots:2\n" {
		t.Errorf("--dns: %q", got)
	}
	only := resolvconf.Parse([]byte("nameserver 127.0.0.53\n"))
	if got := string(resolvFor(testContainer(), netip.Addr{}, only, false)); got != "nameserver 8.8.8.8\nnameserver 8.8.4.4\n" {
		t.Errorf("only loopback resolvers: %q", got)
	}
}
