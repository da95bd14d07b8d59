package bridge

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/network/nstest"
)

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// testNet makes a bridge with a unique name in a random 10.x.y.0/24 that
// no host route covers, removed at cleanup.
func testNet(t testing.TB) (string, int, netip.Prefix) {
	t.Helper()
	requireRoot(t)
	name := "tb" + randHex(4)
	var gw netip.Prefix
	routes, err := Routes()
	if err != nil {
		t.Fatal(err)
	}
	for {
		b := make([]byte, 2)
		rand.Read(b)
		gw = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, b[0], b[1], 1}), 24)
		clash := false
		for _, r := range routes {
			if r.Dst.Overlaps(gw.Masked()) {
				clash = true
			}
		}
		if !clash {
			break
		}
	}
	idx, err := Ensure(name, gw, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Delete(name) })
	return name, idx, gw
}

func TestSandboxReachesGateway(t *testing.T) {
	br, idx, gw := testNet(t)
	// Ensure is idempotent.
	if idx2, err := Ensure(br, gw, 0); err != nil || idx2 != idx {
		t.Fatalf("second Ensure: %d, %v", idx2, err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort(gw.Addr().String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello"))
			c.Close()
		}
	}()
	dir := t.TempDir()
	path := filepath.Join(dir, "ns1")
	addr := netip.PrefixFrom(gw.Addr().Next(), gw.Bits())
	host := "tb" + randHex(4) + "v"
	ep := Endpoint{HostName: host, Name: "eth0", BridgeIndex: idx, Addr: addr, Gateway: gw.Addr(), MAC: MAC(addr.Addr())}
	if err := NewSandbox(path, []Endpoint{ep}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Delete(host); DeleteSandbox(path) })
	if !Exists(host) {
		t.Fatalf("host side %s missing", host)
	}
	err = nstest.Do(path, func() error {
		c, err := net.DialTimeout("tcp", l.Addr().String(), 10*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		b := make([]byte, 5)
		if _, err := c.Read(b); err != nil {
			return err
		}
		if string(b) != "hello" {
			return fmt.Errorf("read %q", b)
		}
		ifs, err := net.Interfaces()
		if err != nil {
			return err
		}
		var names []string
		for _, i := range ifs {
			names = append(names, i.Name+"="+i.HardwareAddr.String())
		}
		if len(names) != 2 || names[1] != "eth0="+MAC(addr.Addr()).String() {
			return fmt.Errorf("interfaces %v", names)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("from the sandbox: %v", err)
	}

	// A second endpoint, hot-plugged, then removed.
	host2 := "tb" + randHex(4) + "v"
	addr2 := netip.PrefixFrom(addr.Addr().Next(), gw.Bits())
	if err := AddEndpoint(path, Endpoint{HostName: host2, Name: "eth1", BridgeIndex: idx, Addr: addr2}); err != nil {
		t.Fatal(err)
	}
	if !Exists(host2) {
		t.Fatalf("%s missing after AddEndpoint", host2)
	}
	if err := RemoveEndpoint(path, "eth1"); err != nil {
		t.Fatal(err)
	}
	if Exists(host2) {
		t.Fatalf("%s still there after RemoveEndpoint", host2)
	}

	// A name that is taken fails and leaves no namespace file.
	path2 := filepath.Join(dir, "ns2")
	if err := NewSandbox(path2, []Endpoint{{HostName: host, Name: "eth0", BridgeIndex: idx, Addr: addr2}}); err == nil {
		t.Fatal("duplicate host name accepted")
	}
	if _, err := os.Stat(path2); !os.IsNotExist(err) {
		t.Fatalf("failed sandbox left %s: %v", path2, err)
	}

	if err := DeleteSandbox(path); err != nil {
		t.Fatal(err)
	}
	// The pair goes with the namespace, asynchronously.
	deadline := time.Now().Add(60 * time.Second)
	for Exists(host) {
		if time.Now().After(deadline) {
			t.Fatalf("%s still there 60 s after its namespace was deleted", host)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEnsureRejectsNonBridge(t *testing.T) {
	br, idx, gw := testNet(t)
	path := filepath.Join(t.TempDir(), "ns")
	host := "tb" + randHex(4) + "v"
	if err := NewSandbox(path, []Endpoint{{HostName: host, Name: "eth0", BridgeIndex: idx, Addr: netip.PrefixFrom(gw.Addr().Next(), 24)}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Delete(host); DeleteSandbox(path) })
	if _, err := Ensure(host, gw, 0); err == nil {
		t.Fatalf("Ensure on veth %s succeeded", host)
	}
	_ = br
}

func BenchmarkSandbox(b *testing.B) {
	_, idx, gw := testNet(b)
	dir := b.TempDir()
	a := gw.Addr()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a = a.Next()
		if !gw.Masked().Contains(a.Next()) {
			a = gw.Addr().Next()
		}
		path := filepath.Join(dir, fmt.Sprint(i))
		host := fmt.Sprintf("tbv%d", i)
		if err := NewSandbox(path, []Endpoint{{HostName: host, Name: "eth0", BridgeIndex: idx, Addr: netip.PrefixFrom(a, 24), Gateway: gw.Addr(), MAC: MAC(a)}}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		DeleteSandbox(path)
		Delete(host)
		b.StartTimer()
	}
}
