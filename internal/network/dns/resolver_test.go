package dns

import (
	"net"
	"net/netip"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/berth-project/berth/internal/network"
)

// The asking container is 127.0.0.1 on network "lo" (gateway 127.0.0.1,
// so queries sent to 127.0.0.1 count as sent to that network's gateway).
func testState(upstream string) *network.State {
	return &network.State{
		Networks: []network.StateNetwork{
			{ID: "lo", Name: "front", Subnet: netip.MustParsePrefix("127.0.0.0/8"), Gateway: netip.MustParseAddr("127.0.0.1"), DNS: true},
			{ID: "back", Name: "back", Subnet: netip.MustParsePrefix("10.9.0.0/24"), Gateway: netip.MustParseAddr("10.9.0.1"), DNS: true},
			{ID: "other", Name: "other", Subnet: netip.MustParsePrefix("10.8.0.0/24"), Gateway: netip.MustParseAddr("10.8.0.1"), DNS: true},
		},
		Endpoints: []network.Endpoint{
			{NetworkID: "lo", ContainerID: "asker", Names: []string{"asker"}, IP: netip.MustParseAddr("127.0.0.1"), Upstreams: []string{upstream}},
			{NetworkID: "back", ContainerID: "asker", Names: []string{"asker"}, IP: netip.MustParseAddr("10.9.0.2")},
			{NetworkID: "lo", ContainerID: "web1", Names: []string{"web1", "aaaaaaaaaaaa", "web"}, IP: netip.MustParseAddr("127.0.0.5")},
			{NetworkID: "lo", ContainerID: "web2", Names: []string{"web2", "bbbbbbbbbbbb", "web"}, IP: netip.MustParseAddr("127.0.0.6")},
			{NetworkID: "back", ContainerID: "db", Names: []string{"db"}, IP: netip.MustParseAddr("10.9.0.3")},
			{NetworkID: "other", ContainerID: "secret", Names: []string{"secret"}, IP: netip.MustParseAddr("10.8.0.2")},
		},
	}
}

// fakeUpstream answers every A query with 192.0.2.77.
func fakeUpstream(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			v := verdict{addrs: []netip.Addr{netip.MustParseAddr("192.0.2.77")}}
			c.WriteTo(reply(buf[:n], v), from)
		}
	}()
	return c.LocalAddr().String()
}

func query(t *testing.T, conn net.Conn, name string, typ dnsmessage.Type) (dnsmessage.RCode, []string) {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 4242, RecursionDesired: true})
	b.StartQuestions()
	b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET})
	msg, _ := b.Finish()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	var resp []byte
	if _, ok := conn.(*net.TCPConn); ok {
		if err := writeMsg(conn, msg); err != nil {
			t.Fatal(err)
		}
		r, err := readMsg(conn)
		if err != nil {
			t.Fatal(err)
		}
		resp = r
	} else {
		conn.Write(msg)
		buf := make([]byte, 1500)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		resp = buf[:n]
	}
	var p dnsmessage.Parser
	h, err := p.Start(resp)
	if err != nil || h.ID != 4242 {
		t.Fatalf("bad reply %v %v", h, err)
	}
	p.SkipAllQuestions()
	var out []string
	for {
		rh, err := p.AnswerHeader()
		if err != nil {
			break
		}
		switch rh.Type {
		case dnsmessage.TypeA:
			a, _ := p.AResource()
			out = append(out, netip.AddrFrom4(a.A).String())
		case dnsmessage.TypePTR:
			r, _ := p.PTRResource()
			out = append(out, r.PTR.String())
		default:
			p.SkipAnswer()
		}
	}
	sort.Strings(out)
	return h.RCode, out
}

func TestResolver(t *testing.T) {
	dir := t.TempDir()
	statePath := filepath.Join(dir, "state.json")
	if err := network.WriteState(statePath, testState(fakeUpstream(t))); err != nil {
		t.Fatal(err)
	}
	r := New(statePath)
	r.ResolvConf = filepath.Join(dir, "resolv.conf") // none: the container's upstream is used
	r.Timeout = time.Minute                          // the fake upstream answers; a loaded machine may be slow
	pc, err := net.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	l, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go r.ServeUDP(pc)
	go r.ServeTCP(l)
	udp, err := net.Dial("udp4", "127.0.0.1:"+strings.Split(pc.LocalAddr().String(), ":")[1])
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()

	for _, c := range []struct {
		name string
		typ  dnsmessage.Type
		want string
	}{
		{"web1.", dnsmessage.TypeA, "127.0.0.5"},
		{"WEB1.", dnsmessage.TypeA, "127.0.0.5"},
		{"aaaaaaaaaaaa.", dnsmessage.TypeA, "127.0.0.5"},
		{"web.", dnsmessage.TypeA, "127.0.0.5 127.0.0.6"},
		{"db.", dnsmessage.TypeA, "10.9.0.3"},            // on the asker's other network
		{"web1.", dnsmessage.TypeAAAA, ""},               // known, no IPv6
		{"secret.", dnsmessage.TypeA, "192.0.2.77"},      // not shared: forwarded
		{"example.org.", dnsmessage.TypeA, "192.0.2.77"}, // forwarded to --dns
		{"5.0.0.127.in-addr.arpa.", dnsmessage.TypePTR, "web1."},
	} {
		rc, got := query(t, udp, c.name, c.typ)
		if rc != dnsmessage.RCodeSuccess || strings.Join(got, " ") != c.want {
			t.Errorf("%s %v: got %v %v, want %q", c.name, c.typ, rc, got, c.want)
		}
	}
	tcp, err := net.Dial("tcp4", "127.0.0.1:"+strings.Split(l.Addr().String(), ":")[1])
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	if rc, got := query(t, tcp, "web2.", dnsmessage.TypeA); rc != dnsmessage.RCodeSuccess || strings.Join(got, " ") != "127.0.0.6" {
		t.Fatalf("tcp: %v %v", rc, got)
	}

	// The state changes: web1 is gone, the network becomes internal.
	st := testState("127.0.0.1:1")
	st.Endpoints = append(st.Endpoints[:2], st.Endpoints[3:]...)
	st.Networks[0].Internal = true
	time.Sleep(10 * time.Millisecond) // a new mtime even on coarse clocks
	if err := network.WriteState(statePath, st); err != nil {
		t.Fatal(err)
	}
	if rc, got := query(t, udp, "web1.", dnsmessage.TypeA); rc != dnsmessage.RCodeServerFailure || len(got) != 0 {
		t.Fatalf("removed container on internal network: %v %v", rc, got)
	}
	if rc, got := query(t, udp, "web.", dnsmessage.TypeA); rc != dnsmessage.RCodeSuccess || strings.Join(got, " ") != "127.0.0.6" {
		t.Fatalf("alias after removal: %v %v", rc, got)
	}
}

func TestDecideDropsStrangers(t *testing.T) {
	dir := t.TempDir()
	statePath := filepath.Join(dir, "state.json")
	network.WriteState(statePath, testState("127.0.0.1:1"))
	r := New(statePath)
	q := dnsmessage.Question{Name: dnsmessage.MustNewName("web1."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}
	// Sent to a gateway, but from outside its network.
	if v := r.decide(q, netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("10.9.0.1")); !v.drop {
		t.Fatalf("stranger answered: %+v", v)
	}
	// Sent to an address that is no gateway.
	if v := r.decide(q, netip.MustParseAddr("10.9.0.2"), netip.MustParseAddr("10.9.0.7")); !v.drop {
		t.Fatalf("non-gateway answered: %+v", v)
	}
	// A container on "back" does not see "front"'s web1 (not shared).
	if v := r.decide(q, netip.MustParseAddr("10.9.0.3"), netip.MustParseAddr("10.9.0.1")); len(v.addrs) != 0 {
		t.Fatalf("db sees web1: %+v", v)
	}
}
