package portmap

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/network"

	"github.com/berth-project/berth/internal/errdefs"
)

func TestRequests(t *testing.T) {
	bindings := network.PortMap{
		network.MustParsePort("80/tcp"):   {{HostPort: "8080"}, {HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "9000-9010"}},
		network.MustParsePort("53/udp"):   {{}},
		network.MustParsePort("443/tcp"):  {{HostIP: netip.IPv6Unspecified(), HostPort: "8443"}},
		network.MustParsePort("5000/tcp"): nil,
	}
	exposed := network.PortSet{network.MustParsePort("80/tcp"): {}, network.MustParsePort("7000/tcp"): {}}
	reqs, err := Requests(bindings, exposed, true)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range reqs {
		got = append(got, r.HostIP.String()+":"+itoa(r.HostStart)+"-"+itoa(r.HostEnd)+"->"+itoa(r.ContainerPort)+"/"+r.Proto)
	}
	want := "0.0.0.0:0-0->53/udp 0.0.0.0:8080-8080->80/tcp 127.0.0.1:9000-9010->80/tcp 0.0.0.0:0-0->5000/tcp 0.0.0.0:0-0->7000/tcp"
	if strings.Join(got, " ") != want {
		t.Fatalf("got  %s\nwant %s", strings.Join(got, " "), want)
	}
	for _, bad := range []network.PortMap{
		{network.MustParsePort("80/tcp"): {{HostPort: "x"}}},
		{network.MustParsePort("80/tcp"): {{HostPort: "90-80"}}},
		{network.MustParsePort("80/tcp"): {{HostIP: netip.MustParseAddr("::1"), HostPort: "80"}}},
		{network.MustParsePort("80/sctp"): {{HostPort: "80"}}},
	} {
		if _, err := Requests(bad, nil, false); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%v: want invalid argument, got %v", bad, err)
		}
	}
}

func itoa(n uint16) string { return strconv.Itoa(int(n)) }

func TestReserve(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	r, err := Reserve([]Request{{HostIP: lo, Proto: "tcp", ContainerPort: 80}, {HostIP: lo, Proto: "udp", ContainerPort: 53}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if len(r.Mappings) != 2 || r.Mappings[0].HostPort == 0 || r.Mappings[1].HostPort == 0 {
		t.Fatalf("mappings %v", r.Mappings)
	}
	// The port is held: neither another reservation nor a listener gets it.
	p := r.Mappings[0].HostPort
	if _, err := Reserve([]Request{{HostIP: lo, HostStart: p, HostEnd: p, Proto: "tcp"}}); !errdefs.IsConflict(err) || !strings.Contains(err.Error(), "port is already allocated") {
		t.Fatalf("second reservation: %v", err)
	}
	if l, err := net.Listen("tcp4", "127.0.0.1:"+itoa(p)); err == nil {
		l.Close()
		t.Fatal("a listener got a reserved port")
	}
	// A range skips the taken port.
	r2, err := Reserve([]Request{{HostIP: lo, HostStart: p, HostEnd: p + 1, Proto: "tcp"}})
	if err == nil {
		if r2.Mappings[0].HostPort != p+1 {
			t.Fatalf("range gave %d", r2.Mappings[0].HostPort)
		}
		r2.Close()
	}
	r.Close()
	if l, err := net.Listen("tcp4", "127.0.0.1:"+itoa(p)); err != nil {
		t.Fatalf("port not released: %v", err)
	} else {
		l.Close()
	}
	// Round trip through inspect's shape.
	ms := []Mapping{{HostIP: netip.IPv4Unspecified(), HostPort: 8080, Proto: "tcp", ContainerPort: 80}}
	pm := PortMap(ms, network.PortSet{network.MustParsePort("81/tcp"): {}})
	if len(pm) != 2 || pm[network.MustParsePort("81/tcp")] != nil {
		t.Fatalf("port map %v", pm)
	}
	if back := FromPortMap(pm); len(back) != 1 || back[0] != ms[0] {
		t.Fatalf("round trip %v", back)
	}
}
