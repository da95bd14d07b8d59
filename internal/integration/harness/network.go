package harness

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/berth-project/berth/internal/network/bridge"
	"github.com/berth-project/berth/internal/network/firewall"
)

// NetSettings are the names and addresses one test daemon takes on the
// host: links starting with Prefix, its own nftables Table, subnets from
// its own random Pool. Daemons running side by side never share them, and
// tests count only what carries them.
type NetSettings struct {
	Prefix, Table string
	Pool          netip.Prefix
}

// NewNetSettings picks a prefix, a table and a /16 of 10.0.0.0/8 that no
// route of the host overlaps. The /16 is claimed until the test ends: two
// test daemons starting at once (go test -p 2) would otherwise both see
// it free before either made its bridge.
func NewNetSettings(t testing.TB) NetSettings {
	t.Helper()
	h := RandHex(3)
	s := NetSettings{Prefix: "t" + h[:5], Table: "berth_t" + h}
	routes, err := bridge.Routes()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		b := make([]byte, 1)
		rand.Read(b)
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, b[0], 0, 0}), 16)
		clash := b[0] == 0 || b[0] == 255
		for _, r := range routes {
			clash = clash || r.Dst.Overlaps(p)
		}
		if !clash && claimPool(t, p) {
			s.Pool = p
			return s
		}
	}
	t.Fatal("no free /16 in 10.0.0.0/8 for the test daemon")
	return s
}

// claimPool binds an abstract unix socket named for p, held until the
// test's cleanups have run (it is registered before the daemon's
// teardown, so it goes after it); false when another test holds it. The
// kernel lets go of it when the test process ends, however it ends.
func claimPool(t testing.TB, p netip.Prefix) bool {
	l, err := net.Listen("unix", "@berth-test-pool-"+p.Addr().String())
	if err != nil {
		return false
	}
	t.Cleanup(func() { l.Close() })
	return true
}

// Flags are the daemon flags that give it these settings.
func (s NetSettings) Flags() []string {
	return []string{"--bridge-prefix", s.Prefix, "--nft-table", s.Table,
		"--default-address-pool", fmt.Sprintf("base=%s,size=24", s.Pool)}
}

// Links lists the host's links this daemon made.
func (s NetSettings) Links(t testing.TB) []string {
	t.Helper()
	l, err := bridge.Links(s.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Cleanup removes what the daemon left on the host: its resolver
// process, links, nftables table and the accept rules it put in other
// tables' chains. It reports failures with t.Errorf and goes on: a
// teardown that stopped half-way would leave mounts and directories too.
func (s NetSettings) Cleanup(t testing.TB, execRoot string) {
	if b, err := os.ReadFile(filepath.Join(execRoot, "network", "resolver.json")); err == nil {
		var info struct{ Pid int }
		if json.Unmarshal(b, &info) == nil && info.Pid > 0 {
			if cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", info.Pid)); err == nil && strings.Contains(string(cmd), execRoot) {
				syscall.Kill(info.Pid, syscall.SIGKILL)
			}
		}
	}
	links, err := bridge.Links(s.Prefix)
	if err != nil {
		t.Errorf("cleanup: %v", err)
	}
	for _, l := range links {
		if err := bridge.Delete(l); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
	fw := firewall.New(s.Table)
	if err := fw.RemoveForwardAccept(""); err != nil {
		t.Errorf("cleanup: %v", err)
	}
	if err := fw.Delete(); err != nil {
		t.Errorf("cleanup: %v", err)
	}
}
