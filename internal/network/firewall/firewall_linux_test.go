package firewall

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/network/bridge"
	"github.com/berth-project/berth/internal/network/nstest"
)

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

type testNet struct {
	id, bridge string
	index      int
	gw         netip.Prefix
}

func (n testNet) rules(internal bool) Network {
	return Network{ID: n.id, Bridge: n.bridge, Subnet: n.gw.Masked(), Gateway: n.gw.Addr(), Internal: internal}
}

// newNet makes a bridge in a free random 10.x.y.0/24.
func newNet(t *testing.T) testNet {
	t.Helper()
	routes, err := bridge.Routes()
	if err != nil {
		t.Fatal(err)
	}
	var gw netip.Prefix
	for clash := true; clash; {
		b := make([]byte, 2)
		rand.Read(b)
		gw = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, b[0], b[1], 1}), 24)
		clash = false
		for _, r := range routes {
			clash = clash || r.Dst.Overlaps(gw.Masked())
		}
	}
	n := testNet{id: randHex(8), bridge: "tf" + randHex(4), gw: gw}
	if n.index, err = bridge.Ensure(n.bridge, gw, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bridge.Delete(n.bridge) })
	return n
}

// sandbox plugs a namespace with address .k into n.
func sandbox(t *testing.T, n testNet, k byte) (string, netip.Addr) {
	t.Helper()
	b := n.gw.Addr().As4()
	b[3] = k
	a := netip.AddrFrom4(b)
	path := filepath.Join(t.TempDir(), "ns")
	host := n.bridge + fmt.Sprint(k)
	if err := bridge.NewSandbox(path, []bridge.Endpoint{{HostName: host, Name: "eth0", BridgeIndex: n.index, Addr: netip.PrefixFrom(a, 24), Gateway: n.gw.Addr(), MAC: bridge.MAC(a)}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bridge.Delete(host); bridge.DeleteSandbox(path) })
	return path, a
}

func serve(t *testing.T, path, greeting string) string {
	t.Helper()
	l, err := nstest.Listen(path, "0.0.0.0:80")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	nstest.Serve(l, greeting)
	return "80"
}

func freePort(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

func mustGet(t *testing.T, from, addr, want string) string {
	t.Helper()
	var out string
	var err error
	// The first SYN may meet a neighbour entry that is not resolved yet.
	for i := 0; i < 3; i++ {
		if out, err = nstest.Get(from, addr, 10*time.Second); err == nil {
			break
		}
	}
	if err != nil || !strings.HasPrefix(out, want) {
		t.Fatalf("from %q to %s: got %q, %v; want %q", from, addr, out, err, want)
	}
	return out
}

func mustNotGet(t *testing.T, from, addr string) {
	t.Helper()
	if out, err := nstest.Get(from, addr, 2*time.Second); err == nil {
		t.Fatalf("from %q to %s: got %q, want no connection", from, addr, out)
	}
}

func TestRules(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	x, y, in := newNet(t), newNet(t), newNet(t)
	outside := newNet(t) // not berth's: stands for the world beyond the host
	fw := New("berth_t" + randHex(4))
	t.Cleanup(func() { fw.RemoveForwardAccept(""); fw.Delete() })
	hostPort := freePort(t)
	a, aIP := sandbox(t, x, 2)
	b, bIP := sandbox(t, x, 3)
	c, _ := sandbox(t, y, 2)
	i, _ := sandbox(t, in, 2)
	o, oIP := sandbox(t, outside, 2)
	serve(t, b, "b")
	serve(t, o, "o")
	err := fw.Reset([]Network{x.rules(false), y.rules(false), in.rules(true)}, map[string][]Port{
		"cB": {{HostPort: hostPort, Proto: "tcp", ContainerIP: bIP, ContainerPort: 80}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.EnsureForwardAccept([]string{x.bridge, y.bridge, in.bridge, outside.bridge}); err != nil {
		t.Fatal(err)
	}
	hp := fmt.Sprint(hostPort)

	t.Run("published port from the host's loopback", func(t *testing.T) {
		out := mustGet(t, "", "127.0.0.1:"+hp, "b")
		if !strings.Contains(out, x.gw.Addr().String()+":") {
			t.Fatalf("loopback client not masqueraded to the gateway: %q", out)
		}
	})
	t.Run("hairpin through the gateway", func(t *testing.T) {
		mustGet(t, a, x.gw.Addr().String()+":"+hp, "b "+x.gw.Addr().String())
	})
	t.Run("from another network through the host", func(t *testing.T) {
		mustGet(t, c, y.gw.Addr().String()+":"+hp, "b")
	})
	t.Run("egress is masqueraded", func(t *testing.T) {
		mustGet(t, a, oIP.String()+":80", "o "+outside.gw.Addr().String()+":")
	})
	t.Run("networks are isolated", func(t *testing.T) {
		mustNotGet(t, c, bIP.String()+":80")
		mustNotGet(t, o, bIP.String()+":80")
	})
	t.Run("internal has no egress", func(t *testing.T) {
		mustNotGet(t, i, oIP.String()+":80")
	})
	t.Run("same network talks directly", func(t *testing.T) {
		mustGet(t, a, bIP.String()+":80", "b "+aIP.String()+":")
	})

	counts, err := fw.Rules()
	if err != nil {
		t.Fatal(err)
	}
	if counts["c:cB"] != 1 || counts["n:"+x.id] == 0 || counts["n:"+in.id] == 0 {
		t.Fatalf("rule counts %v", counts)
	}
	if err := fw.RemovePorts("cB"); err != nil {
		t.Fatal(err)
	}
	mustNotGet(t, "", "127.0.0.1:"+hp)
	if err := fw.RemoveNetwork(x.id); err != nil {
		t.Fatal(err)
	}
	counts, _ = fw.Rules()
	if counts["c:cB"] != 0 || counts["n:"+x.id] != 0 || counts["n:"+y.id] == 0 {
		t.Fatalf("after removals: %v", counts)
	}
	// Reset again keeps the table consistent (idempotent rebuild).
	if err := fw.Reset([]Network{y.rules(false)}, nil); err != nil {
		t.Fatal(err)
	}
	counts, _ = fw.Rules()
	if counts["n:"+in.id] != 0 || counts["n:"+y.id] == 0 {
		t.Fatalf("after reset: %v", counts)
	}
}

// TestForwardAccept stands in for dockerd: a forward chain with policy
// drop in another table. It drops only traffic of this test's bridges
// (everything else is accepted first), so other tests are unaffected.
func TestForwardAccept(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	x, outside := newNet(t), newNet(t)
	fw := New("berth_t" + randHex(4))
	t.Cleanup(func() { fw.RemoveForwardAccept(""); fw.Delete() })
	a, _ := sandbox(t, x, 2)
	o, oIP := sandbox(t, outside, 2)
	serve(t, o, "o")
	if err := fw.Reset([]Network{x.rules(false)}, nil); err != nil {
		t.Fatal(err)
	}
	foreign := dropChain(t, x.bridge, outside.bridge)
	base := len(ownRules(t, fw, foreign))
	mustNotGet(t, a, oIP.String()+":80")
	// dockerd's own FORWARD chain, when it runs here, gets them too, as do
	// drop chains of tests running at the same time: count only what this
	// test's chain got. Daemons of other tests put their accept rules into
	// this chain too (they check every 2 s): those are not counted.
	if _, err := fw.EnsureForwardAccept([]string{x.bridge, outside.bridge}); err != nil {
		t.Fatal(err)
	}
	wantAccepts(t, fw, foreign, base+4, x.bridge, outside.bridge)
	mustGet(t, a, oIP.String()+":80", "o")
	if _, err := fw.EnsureForwardAccept([]string{x.bridge, outside.bridge}); err != nil {
		t.Fatal(err)
	}
	wantAccepts(t, fw, foreign, base+4, x.bridge, outside.bridge) // nothing added twice
	// The other tool flushes its chain and writes its rules again.
	flushAndRefill(t, foreign, x.bridge, outside.bridge)
	mustNotGet(t, a, oIP.String()+":80")
	if _, err := fw.EnsureForwardAccept([]string{x.bridge, outside.bridge}); err != nil {
		t.Fatal(err)
	}
	wantAccepts(t, fw, foreign, base+4, x.bridge, outside.bridge)
	mustGet(t, a, oIP.String()+":80", "o")
	if err := fw.RemoveForwardAccept(x.bridge); err != nil {
		t.Fatal(err)
	}
	c, _ := nftables.New()
	rules, _ := c.GetRules(foreign.Table, foreign)
	if hasAccept(rules, expr.MetaKeyIIFNAME, x.bridge) || !hasAccept(rules, expr.MetaKeyIIFNAME, outside.bridge) {
		t.Fatal("RemoveForwardAccept removed the wrong rules")
	}
}

func chainRules(t *testing.T, ch *nftables.Chain) []*nftables.Rule {
	t.Helper()
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	rules, err := c.GetRules(ch.Table, ch)
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

// ownRules are ch's rules but those other firewalls (of daemons of tests
// running at the same time) put there: the chain's own and fw's.
func ownRules(t *testing.T, fw *Firewall, ch *nftables.Chain) []*nftables.Rule {
	t.Helper()
	var out []*nftables.Rule
	for _, r := range chainRules(t, ch) {
		if tag, _ := userdata.GetString(r.UserData, userdata.TypeComment); !strings.HasPrefix(tag, tagPrefix) || tag == fw.foreignTag() {
			out = append(out, r)
		}
	}
	return out
}

// wantAccepts checks that ch holds n rules of its own and fw's (see
// ownRules), among them accepts in and out of every bridge.
func wantAccepts(t *testing.T, fw *Firewall, ch *nftables.Chain, n int, bridges ...string) {
	t.Helper()
	rules := ownRules(t, fw, ch)
	if len(rules) != n {
		t.Fatalf("%s has %d rules, want %d", ch.Table.Name, len(rules), n)
	}
	for _, br := range bridges {
		for _, key := range []expr.MetaKey{expr.MetaKeyIIFNAME, expr.MetaKeyOIFNAME} {
			if !hasAccept(rules, key, br) {
				t.Fatalf("%s: no accept for %s (key %d)", ch.Table.Name, br, key)
			}
		}
	}
}

// dropChain makes "ip <rand> FORWARD" with policy drop that accepts all
// traffic not on the given bridges.
func dropChain(t *testing.T, bridges ...string) *nftables.Chain {
	t.Helper()
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	drop := nftables.ChainPolicyDrop
	tbl := c.AddTable(&nftables.Table{Name: "tforeign" + randHex(4), Family: nftables.TableFamilyIPv4})
	ch := c.AddChain(&nftables.Chain{Name: "FORWARD", Table: tbl, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &drop})
	addForeignRules(c, ch, bridges)
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, _ := nftables.New()
		c.DelTable(tbl)
		c.Flush()
	})
	return ch
}

func addForeignRules(c *nftables.Conn, ch *nftables.Chain, bridges []string) {
	var ex []expr.Any
	for _, b := range bridges {
		ex = append(ex, ifname(expr.MetaKeyIIFNAME, expr.CmpOpNeq, b)...)
		ex = append(ex, ifname(expr.MetaKeyOIFNAME, expr.CmpOpNeq, b)...)
	}
	c.AddRule(&nftables.Rule{Table: ch.Table, Chain: ch, Exprs: append(ex, &expr.Verdict{Kind: expr.VerdictAccept})})
}

func flushAndRefill(t *testing.T, ch *nftables.Chain, bridges ...string) {
	t.Helper()
	c, _ := nftables.New()
	c.FlushChain(ch)
	addForeignRules(c, ch, bridges)
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
}

// TestNoLoopbackFromBridge: the bridges route 127.0.0.0/8 (route_localnet,
// for published ports on the host's loopback), but a container that sends
// to loopback addresses through its gateway (as one with raw sockets
// could) reaches no host service on loopback (CVE-2020-8558's class).
func TestNoLoopbackFromBridge(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	x := newNet(t)
	fw := New("berth_t" + randHex(4))
	t.Cleanup(func() { fw.RemoveForwardAccept(""); fw.Delete() })
	a, _ := sandbox(t, x, 2)
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	got := make(chan string, 16)
	go func() {
		b := make([]byte, 100)
		for {
			n, _, err := pc.ReadFrom(b)
			if err != nil {
				return
			}
			got <- string(b[:n])
		}
	}()
	var conn net.Conn
	err = nstest.Do(a, func() error {
		if err := os.WriteFile("/proc/sys/net/ipv4/conf/eth0/route_localnet", []byte("1"), 0o644); err != nil {
			return err
		}
		lo := netlink.Route{Table: unix.RT_TABLE_LOCAL, Type: unix.RTN_LOCAL, Dst: &net.IPNet{IP: net.IPv4(127, 0, 0, 1), Mask: net.CIDRMask(32, 32)}, Scope: netlink.SCOPE_HOST, LinkIndex: 1}
		if err := netlink.RouteDel(&lo); err != nil {
			return fmt.Errorf("remove local route: %w", err)
		}
		link, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		gw := x.gw.Addr().As4()
		if err := netlink.RouteAdd(&netlink.Route{Dst: &net.IPNet{IP: net.IPv4(127, 0, 0, 1), Mask: net.CIDRMask(32, 32)}, Gw: net.IP(gw[:]), LinkIndex: link.Attrs().Index}); err != nil {
			return err
		}
		conn, err = net.Dial("udp4", pc.LocalAddr().String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// send sends msg every 200 ms for up to d and reports whether it
	// arrived.
	send := func(msg string, d time.Duration) bool {
		for deadline := time.Now().Add(d); time.Now().Before(deadline); {
			conn.Write([]byte(msg))
			select {
			case s := <-got:
				if s == msg {
					return true
				}
			case <-time.After(200 * time.Millisecond):
			}
		}
		return false
	}
	if err := fw.Reset([]Network{x.rules(false)}, nil); err != nil {
		t.Fatal(err)
	}
	if send("with-rule", 2*time.Second) {
		t.Fatal("a datagram from the bridge reached a service on the host's loopback")
	}
	// Without berth's rule it gets through: the check above tests the
	// rule, not the setup.
	if err := fw.RemoveNetwork(x.id); err != nil {
		t.Fatal(err)
	}
	if !send("without-rule", 60*time.Second) {
		t.Fatal("the test setup does not reach the host's loopback even without the rule")
	}
}
