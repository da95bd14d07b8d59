package networks

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	apinet "github.com/moby/moby/api/types/network"

	crec "github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/network"
)

type noContainers struct{}

func (noContainers) Get(ref string) (*crec.Container, error) {
	return nil, errdefs.NotFoundf("No such container: %s", ref)
}
func (noContainers) List() []*crec.Container { return nil }

// testService is a service over a store with the predefined networks and
// "user" (10.50.0.0/24, given by the user) and "auto" (chosen subnet);
// nothing touches the kernel.
func testService(t *testing.T) *Service {
	t.Helper()
	db, err := crec.OpenDB(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := network.OpenStore(db)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{ExecRoot: t.TempDir()}, store, noContainers{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ensurePredefined(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*network.Network{
		{ID: strings.Repeat("a", 64), Name: "user", Driver: network.DriverBridge, Subnet: netip.MustParsePrefix("10.50.0.0/24"), Gateway: netip.MustParseAddr("10.50.0.1"), UserSubnet: true, Created: time.Now()},
		{ID: strings.Repeat("b", 64), Name: "auto", Driver: network.DriverBridge, Subnet: netip.MustParsePrefix("10.51.0.0/24"), Gateway: netip.MustParseAddr("10.51.0.1"), Created: time.Now()},
	} {
		if err := store.Put(n); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestValidate(t *testing.T) {
	s := testService(t)
	ip := func(a string) *apinet.EndpointSettings {
		return &apinet.EndpointSettings{IPAMConfig: &apinet.EndpointIPAMConfig{IPv4Address: netip.MustParseAddr(a)}}
	}
	nc := func(m map[string]*apinet.EndpointSettings) *apinet.NetworkingConfig {
		return &apinet.NetworkingConfig{EndpointsConfig: m}
	}

	// The default mode is the bridge network; docker's "default" key too.
	hc := &container.HostConfig{NetworkMode: "default"}
	eps, _, err := s.Validate(&container.Config{}, hc, nc(map[string]*apinet.EndpointSettings{"default": {}}))
	if err != nil || hc.NetworkMode != "bridge" || len(eps) != 1 || eps["bridge"] == nil || eps["bridge"].NetworkID == "" {
		t.Fatalf("default: %v %v %v", hc.NetworkMode, eps, err)
	}
	// A user network by ID prefix is keyed by its name; several networks.
	hc = &container.HostConfig{NetworkMode: "aaaa"}
	eps, _, err = s.Validate(&container.Config{}, hc, nc(map[string]*apinet.EndpointSettings{"aaaa": ip("10.50.0.9"), "auto": {Aliases: []string{"x"}}}))
	if err != nil || hc.NetworkMode != "user" || len(eps) != 2 || eps["user"].IPAMConfig.IPv4Address.String() != "10.50.0.9" || eps["auto"].Aliases[0] != "x" {
		t.Fatalf("user networks: %v %v %v", hc.NetworkMode, eps, err)
	}
	// A network that does not exist yet fails at start, not at create.
	hc = &container.HostConfig{NetworkMode: "later"}
	if eps, _, err = s.Validate(&container.Config{}, hc, nil); err != nil || eps["later"] == nil {
		t.Fatalf("missing network: %v %v", eps, err)
	}
	// Host mode drops published ports with a warning.
	hc = &container.HostConfig{NetworkMode: "host", PortBindings: apinet.PortMap{apinet.MustParsePort("80/tcp"): {{HostPort: "80"}}}}
	if _, warns, err := s.Validate(&container.Config{}, hc, nil); err != nil || len(warns) != 1 || hc.PortBindings != nil {
		t.Fatalf("host: %v %v %v", warns, hc.PortBindings, err)
	}

	for _, c := range []struct {
		name string
		cfg  *container.Config
		hc   *container.HostConfig
		nc   *apinet.NetworkingConfig
		want string
	}{
		{"ip on bridge", &container.Config{}, &container.HostConfig{}, nc(map[string]*apinet.EndpointSettings{"bridge": ip("172.17.0.9")}), "user defined networks only"},
		{"ip without user subnet", &container.Config{}, &container.HostConfig{NetworkMode: "auto"}, nc(map[string]*apinet.EndpointSettings{"auto": ip("10.51.0.9")}), "user configured subnets"},
		{"ip outside subnet", &container.Config{}, &container.HostConfig{NetworkMode: "user"}, nc(map[string]*apinet.EndpointSettings{"user": ip("10.9.9.9")}), "does not belong"},
		{"alias on bridge", &container.Config{}, &container.HostConfig{}, nc(map[string]*apinet.EndpointSettings{"bridge": {Aliases: []string{"a"}}}), "network-scoped alias"},
		{"container mode and ports", &container.Config{}, &container.HostConfig{NetworkMode: "container:x", PublishAllPorts: true}, nil, "port publishing"},
		{"container mode and hostname", &container.Config{Hostname: "h"}, &container.HostConfig{NetworkMode: "container:x"}, nil, "hostname and the network mode"},
		{"container mode and dns", &container.Config{}, &container.HostConfig{NetworkMode: "container:x", DNS: []netip.Addr{netip.MustParseAddr("1.1.1.1")}}, nil, "dns and the network mode"},
		{"none and another network", &container.Config{}, &container.HostConfig{NetworkMode: "none"}, nc(map[string]*apinet.EndpointSettings{"user": {}}), "cannot attach both"},
		{"bad extra host", &container.Config{}, &container.HostConfig{ExtraHosts: []string{"nocolon"}}, nil, "add-host"},
		{"bad extra host address", &container.Config{}, &container.HostConfig{ExtraHosts: []string{"h:not-an-ip"}}, nil, "invalid IP address"},
		{"sctp port", &container.Config{}, &container.HostConfig{PortBindings: apinet.PortMap{apinet.MustParsePort("80/sctp"): {{}}}}, nil, "only tcp and udp"},
	} {
		_, _, err := s.Validate(c.cfg, c.hc, c.nc)
		if err == nil || !strings.Contains(err.Error(), c.want) || !errdefs.IsInvalidArgument(err) {
			t.Errorf("%s: got %v, want an invalid argument error with %q", c.name, err, c.want)
		}
	}
}
