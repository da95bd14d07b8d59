package engine

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/berth-project/berth/internal/network/bridge"
	"github.com/berth-project/berth/internal/network/firewall"
)

// netSettings are the names and addresses one test daemon takes on the
// host: links starting with prefix, its own nftables table, subnets from
// its own random pool. Tests count only what carries these.
type netSettings struct {
	prefix, table string
	pool          netip.Prefix
}

// newNetSettings picks a prefix, a table and a /16 of 10.0.0.0/8 that no
// route of the host overlaps.
func newNetSettings(t *testing.T) netSettings {
	t.Helper()
	h := randHex(3)
	s := netSettings{prefix: "t" + h[:5], table: "berth_t" + h}
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
		if !clash {
			s.pool = p
			return s
		}
	}
	t.Fatal("no free /16 in 10.0.0.0/8 for the test daemon")
	return s
}

func (s netSettings) flags() []string {
	return []string{"--bridge-prefix", s.prefix, "--nft-table", s.table,
		"--default-address-pool", fmt.Sprintf("base=%s,size=24", s.pool)}
}

// links lists the host's links this daemon made.
func (s netSettings) links(t *testing.T) []string {
	t.Helper()
	l, err := bridge.Links(s.prefix)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// cleanup removes what the daemon left on the host: its resolver, links,
// table and the accept rules it put in other tables.
func (s netSettings) cleanup(t *testing.T, execRoot string) {
	if b, err := os.ReadFile(filepath.Join(execRoot, "network", "resolver.json")); err == nil {
		var info struct{ Pid int }
		if json.Unmarshal(b, &info) == nil && info.Pid > 0 {
			if cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", info.Pid)); err == nil && strings.Contains(string(cmd), execRoot) {
				syscall.Kill(info.Pid, syscall.SIGKILL)
			}
		}
	}
	for _, l := range s.links(t) {
		bridge.Delete(l)
	}
	fw := firewall.New(s.table)
	fw.RemoveForwardAccept("")
	fw.Delete()
}
