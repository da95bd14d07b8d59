package engine

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/moby/moby/client"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/berth-project/berth/internal/network"
	"github.com/berth-project/berth/internal/network/bridge"
	"github.com/berth-project/berth/internal/network/firewall"
	"github.com/berth-project/berth/internal/network/nstest"
)

// outside is a network namespace the test makes beyond berth's networks:
// it stands for the world a container's egress reaches. It listens on
// port 7 and answers "outside <client address>".
func (e *env) outside(t *testing.T) string {
	t.Helper()
	a := e.Net.Pool.Addr().As4()
	a[2] = 255
	a[3] = 1
	gw := netip.PrefixFrom(netip.AddrFrom4(a), 24)
	name := e.Net.Prefix + "o" + randHex(2)
	idx, err := bridge.Ensure(name, gw, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bridge.Delete(name) })
	a[3] = 2
	ip := netip.AddrFrom4(a)
	path := filepath.Join(t.TempDir(), "outside")
	host := e.Net.Prefix + "o" + randHex(2)
	if err := bridge.NewSandbox(path, []bridge.Endpoint{{HostName: host, Name: "eth0", BridgeIndex: idx, Addr: netip.PrefixFrom(ip, 24), Gateway: gw.Addr()}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bridge.Delete(host); bridge.DeleteSandbox(path) })
	l, err := nstest.Listen(path, "0.0.0.0:7")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	nstest.Serve(l, "outside")
	return ip.String()
}

// hostAddr is an IPv4 address of the host outside loopback and berth's
// bridges ("" if it has none).
func hostAddr(e *env) string {
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 || i.Flags&net.FlagUp == 0 || strings.HasPrefix(i.Name, e.Net.Prefix) {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLinkLocalUnicast() {
				return n.IP.String()
			}
		}
	}
	return ""
}

// httpGet fetches url, trying again for a while: a server in a container
// started with run -d may not listen yet when the command returns.
func httpGet(url string) (string, error) {
	c := http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := c.Get(url)
		if err != nil {
			if time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
}

// TestNetworkScenarios runs the networking scenarios with the berth CLI
// and with the real docker CLI against the berth daemon.
func TestNetworkScenarios(t *testing.T) {
	e := newEnv(t)
	outside := e.outside(t)
	kinds := []cliKind{berthCLI}
	if _, err := os.Stat(dockerPath); err == nil {
		kinds = append(kinds, dockerCLI)
	}
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			e := *e
			e.t = t
			runNetworkScenarios(t, &e, kind, outside)
		})
	}
}

func runNetworkScenarios(t *testing.T, e *env, k cliKind, outside string) {
	name := func(s string) string { return s + "-" + string(k) }
	// web serves its name at / on the network given.
	web := func(t *testing.T, n string, args ...string) string {
		t.Helper()
		w := name("web" + randHex(2))
		args = append([]string{"run", "-d", "--name", w, "--network", n}, args...)
		args = append(args, "busybox", "sh", "-c", "echo "+w+" > /tmp/index.html; exec httpd -f -p 80 -h /tmp")
		e.with(t).must(k, args...)
		e.with(t).waitHTTP(k, w, "80")
		return w
	}
	inspect := func(t *testing.T, ref, format string) string {
		t.Helper()
		return e.with(t).must(k, "inspect", "-f", format, ref)
	}

	t.Run("dns by name and alias on a user network", func(t *testing.T) {
		e := e.with(t)
		n := name("front")
		e.must(k, "network", "create", n)
		w := web(t, n, "--network-alias", name("www"))
		for _, host := range []string{w, name("www")} {
			out := e.must(k, "run", "--rm", "--network", n, "busybox", "wget", "-qO-", "http://"+host+"/")
			if out != w {
				t.Fatalf("wget http://%s/: got %q, want %q", host, out, w)
			}
		}
		// The name does not resolve from another network.
		other := name("other")
		e.must(k, "network", "create", other)
		if r := e.run(k, "", "run", "--rm", "--network", other, "busybox", "nslookup", w); r.Code == 0 {
			t.Fatalf("%s resolved from another network: %s", w, r)
		}
		if ps := e.must(k, "ps", "--filter", "network="+n, "--format", "{{.Names}}"); ps != w {
			t.Fatalf("ps --filter network=%s: %q", n, ps)
		}
		// On two networks at once: two interfaces, names from both.
		if out := e.must(k, "run", "--rm", "--network", n, "--network", other, "busybox", "sh", "-c", "ls /sys/class/net; wget -qO- http://"+w+"/"); !strings.Contains(out, "eth1") || !strings.HasSuffix(out, w) {
			t.Fatalf("two networks: %q", out)
		}
		// resolv.conf names the gateway; /etc/hosts the container itself.
		out := e.must(k, "run", "--rm", "--network", n, "--hostname", "h1", "--add-host", "db.local:10.9.9.9", "busybox", "sh", "-c", "cat /etc/resolv.conf /etc/hosts /etc/hostname")
		gw := e.must(k, "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", n)
		if !strings.Contains(out, "nameserver "+gw) || !strings.Contains(out, "10.9.9.9\tdb.local") || !strings.Contains(out, "\th1\n") {
			t.Fatalf("etc files: %s", out)
		}
	})

	t.Run("published port from the host and hairpin", func(t *testing.T) {
		e := e.with(t)
		w := web(t, "bridge", "-p", "80")
		hp := e.must(k, "port", w, "80")
		_, port, err := net.SplitHostPort(hp)
		if err != nil || !strings.HasPrefix(hp, "0.0.0.0:") {
			t.Fatalf("port: %q", hp)
		}
		got, err := httpGet("http://127.0.0.1:" + port + "/")
		if err != nil || strings.TrimSpace(got) != w {
			t.Fatalf("127.0.0.1:%s: %q %v", port, got, err)
		}
		if a := hostAddr(e); a != "" {
			got, err := httpGet("http://" + a + ":" + port + "/")
			if err != nil || strings.TrimSpace(got) != w {
				t.Fatalf("%s:%s: %q %v", a, port, got, err)
			}
		}
		gw := inspect(t, w, "{{.NetworkSettings.Networks.bridge.Gateway}}")
		out := e.must(k, "run", "--rm", "busybox", "wget", "-qO-", "http://"+gw+":"+port+"/")
		if out != w {
			t.Fatalf("hairpin via %s:%s: %q", gw, port, out)
		}
		// And the container itself, through the gateway (hairpin).
		if out := e.must(k, "exec", w, "wget", "-qO-", "http://"+gw+":"+port+"/"); out != w {
			t.Fatalf("own port via %s:%s: %q", gw, port, out)
		}
		// No IPv6 link-local address inside (IPv4 networks).
		if out := e.must(k, "exec", w, "cat", "/proc/net/if_inet6"); strings.Contains(out, "eth0") {
			t.Fatalf("eth0 has IPv6 addresses: %q", out)
		}
		// ps shows the mapping.
		if ps := e.must(k, "ps", "--filter", "name="+w, "--format", "{{.Ports}}"); !strings.Contains(ps, ":"+port+"->80/tcp") {
			t.Fatalf("ps ports: %q", ps)
		}
	})

	t.Run("port ranges, udp and -P", func(t *testing.T) {
		e := e.with(t)
		c := name("multi")
		e.must(k, "run", "-d", "--name", c, "-p", "80-81", "-p", "53/udp", "--expose", "90", "-P", "busybox", "sh", "-c",
			"echo a > /tmp/index.html; httpd -p 80 -h /tmp; exec httpd -f -p 81 -h /tmp")
		e.waitHTTP(k, c, "80")
		e.waitHTTP(k, c, "81")
		out := e.must(k, "port", c)
		for _, want := range []string{"80/tcp -> 0.0.0.0:", "81/tcp -> 0.0.0.0:", "53/udp -> 0.0.0.0:", "90/tcp -> 0.0.0.0:"} {
			if !strings.Contains(out, want) {
				t.Fatalf("port: %q lacks %q", out, want)
			}
		}
		for _, p := range []string{"80", "81"} {
			_, hp, _ := net.SplitHostPort(e.must(k, "port", c, p))
			if got, err := httpGet("http://127.0.0.1:" + hp + "/"); err != nil || got != "a\n" {
				t.Fatalf("port %s via %s: %q %v", p, hp, got, err)
			}
		}
	})

	t.Run("udp and host address bindings", func(t *testing.T) {
		e := e.with(t)
		c := name("udp")
		e.must(k, "run", "-d", "--name", c, "-p", "127.0.0.1::5353/udp", "-p", "127.0.0.1::80", "busybox", "sh", "-c", "echo lo > /tmp/index.html; exec httpd -f -p 80 -h /tmp")
		e.waitHTTP(k, c, "80")
		hp := e.must(k, "port", c, "5353/udp")
		if !strings.HasPrefix(hp, "127.0.0.1:") {
			t.Fatalf("port 5353/udp: %q", hp)
		}
		// A UDP server in the container's namespace, answered through
		// the published port.
		sandbox := e.must(k, "inspect", "-f", "{{.NetworkSettings.SandboxKey}}", c)
		srv, err := nstest.ListenPacket(sandbox, "0.0.0.0:5353")
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		nstest.Echo(srv)
		conn, err := net.Dial("udp4", hp)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		got := ""
		for deadline := time.Now().Add(60 * time.Second); got == "" && time.Now().Before(deadline); {
			conn.Write([]byte("hi"))
			conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			b := make([]byte, 64)
			if n, err := conn.Read(b); err == nil {
				got = string(b[:n])
			}
		}
		if got != "echo hi" {
			t.Fatalf("udp through %s: got %q", hp, got)
		}
		// Bound to 127.0.0.1 only: the host's other addresses do not answer.
		_, tcpPort, _ := net.SplitHostPort(e.must(k, "port", c, "80"))
		if got, err := httpGet("http://127.0.0.1:" + tcpPort + "/"); err != nil || got != "lo\n" {
			t.Fatalf("127.0.0.1:%s: %q %v", tcpPort, got, err)
		}
		if a := hostAddr(e); a != "" {
			c := http.Client{Timeout: 2 * time.Second}
			if resp, err := c.Get("http://" + a + ":" + tcpPort + "/"); err == nil {
				resp.Body.Close()
				t.Fatalf("%s:%s answered a port published on 127.0.0.1 only", a, tcpPort)
			}
		}
	})

	t.Run("-P publishes the image's EXPOSE", func(t *testing.T) {
		e := e.with(t)
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\nEXPOSE 8080 9090/udp\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		img := name("exposer")
		e.must(berthCLI, "build", "-q", "-t", img, dir)
		c := name("exposed")
		e.must(k, "run", "-d", "--name", c, "-P", img, "sh", "-c", "echo x > /tmp/index.html; exec httpd -f -p 8080 -h /tmp")
		e.waitHTTP(k, c, "8080")
		out := e.must(k, "port", c)
		if !strings.Contains(out, "8080/tcp -> 0.0.0.0:") || !strings.Contains(out, "9090/udp -> 0.0.0.0:") {
			t.Fatalf("port: %q", out)
		}
		_, hp, _ := net.SplitHostPort(e.must(k, "port", c, "8080"))
		if got, err := httpGet("http://127.0.0.1:" + hp + "/"); err != nil || got != "x\n" {
			t.Fatalf("-P 8080 via %s: %q %v", hp, got, err)
		}
	})

	t.Run("rename changes the DNS name", func(t *testing.T) {
		e := e.with(t)
		n := name("ren")
		e.must(k, "network", "create", n)
		old, nu := name("before"), name("after")
		e.must(k, "run", "-d", "--name", old, "--network", n, "busybox", "sleep", "600")
		e.must(k, "rename", old, nu)
		if out := e.must(k, "run", "--rm", "--network", n, "busybox", "nslookup", nu); !strings.Contains(out, "Address") {
			t.Fatalf("new name: %q", out)
		}
		if r := e.run(k, "", "run", "--rm", "--network", n, "busybox", "nslookup", old); r.Code == 0 {
			t.Fatalf("old name still resolves: %s", r)
		}
	})

	t.Run("taken port fails before the start", func(t *testing.T) {
		e := e.with(t)
		w := web(t, "bridge", "-p", "80")
		_, port, _ := net.SplitHostPort(e.must(k, "port", w, "80"))
		r := e.run(k, "", "run", "--rm", "-p", port+":80", "busybox", "true")
		if r.Code != 125 || !strings.Contains(r.Stderr, "port is already allocated") {
			t.Fatalf("taken port: %s", r)
		}
		// A port a host program holds is refused too.
		l, err := net.Listen("tcp4", "0.0.0.0:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		_, hp, _ := net.SplitHostPort(l.Addr().String())
		if r := e.run(k, "", "run", "--rm", "-p", hp+":80", "busybox", "true"); r.Code != 125 || !strings.Contains(r.Stderr, hp) {
			t.Fatalf("port of a host program: %s", r)
		}
	})

	t.Run("none shows only lo", func(t *testing.T) {
		e := e.with(t)
		if out := e.must(k, "run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net"); out != "lo" {
			t.Fatalf("got %q", out)
		}
	})

	t.Run("host mode", func(t *testing.T) {
		e := e.with(t)
		out := e.must(k, "run", "--rm", "--network", "host", "busybox", "hostname")
		if h, _ := os.Hostname(); out != h {
			t.Fatalf("hostname %q, want %q", out, h)
		}
	})

	t.Run("egress, internal and isolation", func(t *testing.T) {
		e := e.with(t)
		out := e.must(k, "run", "--rm", "busybox", "nc", outside, "7")
		if !strings.HasPrefix(out, "outside ") || strings.Contains(out, " 10."+"x") {
			t.Fatalf("egress: %q", out)
		}
		// Masqueraded: the outside sees the host, not the container.
		if ip := strings.TrimPrefix(strings.Split(out, ":")[0], "outside "); ip != strings.TrimSuffix(outside, ".2")+".1" {
			t.Fatalf("egress not masqueraded: the outside saw %s", ip)
		}
		in := name("internal")
		e.must(k, "network", "create", "--internal", in)
		if r := e.run(k, "", "run", "--rm", "--network", in, "busybox", "nc", "-w", "2", outside, "7"); r.Code == 0 || strings.Contains(r.Stdout, "outside") {
			t.Fatalf("internal network reached the outside: %s", r)
		}
		a, b := name("isoa"), name("isob")
		e.must(k, "network", "create", a)
		e.must(k, "network", "create", b)
		w := web(t, a)
		ip := inspect(t, w, "{{(index .NetworkSettings.Networks \""+a+"\").IPAddress}}")
		if out := e.must(k, "run", "--rm", "--network", a, "busybox", "wget", "-qO-", "http://"+ip+"/"); out != w {
			t.Fatalf("same network: %q", out)
		}
		if r := e.run(k, "", "run", "--rm", "--network", b, "busybox", "nc", "-w", "2", ip, "80"); r.Code == 0 {
			t.Fatalf("network %s reached %s on %s: %s", b, ip, a, r)
		}
	})

	t.Run("connect and disconnect while running", func(t *testing.T) {
		e := e.with(t)
		n := name("conn")
		e.must(k, "network", "create", n)
		w := web(t, n)
		m := name("mover")
		e.must(k, "run", "-d", "--name", m, "busybox", "sleep", "600")
		if r := e.run(k, "", "exec", m, "wget", "-qO-", "http://"+w+"/"); r.Code == 0 {
			t.Fatalf("reached %s before connect: %s", w, r)
		}
		e.must(k, "network", "connect", "--alias", name("mv"), n, m)
		if out := e.must(k, "exec", m, "wget", "-qO-", "http://"+w+"/"); out != w {
			t.Fatalf("after connect: %q", out)
		}
		if out := e.must(k, "exec", m, "ls", "/sys/class/net"); strings.Fields(out)[1] != "eth1" && !strings.Contains(out, "eth1") {
			t.Fatalf("interfaces after connect: %q", out)
		}
		// The others find it by its alias.
		if out := e.must(k, "exec", w, "nslookup", name("mv")); !strings.Contains(out, "Address") {
			t.Fatalf("alias of the connected container: %q", out)
		}
		e.must(k, "network", "disconnect", n, m)
		if out := e.must(k, "exec", m, "ls", "/sys/class/net"); strings.Contains(out, "eth1") {
			t.Fatalf("interfaces after disconnect: %q", out)
		}
		if r := e.run(k, "", "network", "disconnect", n, m); r.Code == 0 || !strings.Contains(r.Stderr, "is not connected") {
			t.Fatalf("second disconnect: %s", r)
		}
		// A stopped container is connected for its next start.
		s := name("stopped")
		e.must(k, "create", "--name", s, "busybox", "wget", "-qO-", "http://"+w+"/")
		e.must(k, "network", "connect", n, s)
		if out := e.must(k, "start", "-a", s); out != w {
			t.Fatalf("connected before start: %q", out)
		}
	})

	t.Run("container mode", func(t *testing.T) {
		e := e.with(t)
		w := web(t, "bridge")
		out := e.must(k, "run", "--rm", "--network", "container:"+w, "busybox", "wget", "-qO-", "http://127.0.0.1/")
		if out != w {
			t.Fatalf("container mode: %q", out)
		}
		if r := e.run(k, "", "run", "--rm", "--network", "container:"+w, "-p", "80", "busybox", "true"); r.Code != 125 || !strings.Contains(r.Stderr, "conflicting options") {
			t.Fatalf("container mode with -p: %s", r)
		}
	})

	t.Run("network commands", func(t *testing.T) {
		e := e.with(t)
		n := name("cmds")
		sub := e.Net.Pool.Addr().As4()
		sub[2] = 200
		subnet := netip.PrefixFrom(netip.AddrFrom4(sub), 24).String()
		if k == dockerCLI {
			sub[2] = 201
			subnet = netip.PrefixFrom(netip.AddrFrom4(sub), 24).String()
		}
		gw := strings.TrimSuffix(subnet, "0/24") + "254"
		rng := strings.TrimSuffix(subnet, "0/24") + "128/25"
		br := "tb" + randHex(3)
		id := e.must(k, "network", "create", "--subnet", subnet, "--gateway", gw, "--ip-range", rng,
			"--label", "team=net", "-o", "com.docker.network.bridge.name="+br, "-o", "com.docker.network.driver.mtu=1400", n)
		defer bridge.Delete(br)
		if len(id) != 64 {
			t.Fatalf("create printed %q", id)
		}
		var got []map[string]any
		if err := json.Unmarshal([]byte(e.must(k, "network", "inspect", n)), &got); err != nil || len(got) != 1 {
			t.Fatalf("inspect: %v", err)
		}
		ipam := got[0]["IPAM"].(map[string]any)["Config"].([]any)[0].(map[string]any)
		if ipam["Subnet"] != subnet || ipam["Gateway"] != gw || ipam["IPRange"] != rng || got[0]["Driver"] != "bridge" || got[0]["Scope"] != "local" {
			t.Fatalf("inspect: %v", got[0])
		}
		if !bridge.Exists(br) {
			t.Fatalf("bridge %s missing", br)
		}
		out := e.must(k, "run", "--rm", "--network", n, "busybox", "sh", "-c", "cat /sys/class/net/eth0/mtu; ip -o -4 addr show eth0; ip route")
		if !strings.Contains(out, "1400") || !strings.Contains(out, "."+"128/24") && !strings.Contains(out, strings.TrimSuffix(rng, "128/25")+"128/24") || !strings.Contains(out, "default via "+gw) {
			t.Fatalf("in container: %q", out)
		}
		fixed := strings.TrimSuffix(subnet, "0/24") + "7"
		if out := e.must(k, "run", "--rm", "--network", n, "--ip", fixed, "busybox", "ip", "-o", "-4", "addr", "show", "eth0"); !strings.Contains(out, fixed+"/24") {
			t.Fatalf("--ip: %q", out)
		}
		if r := e.run(k, "", "run", "--rm", "--ip", "172.30.0.9", "busybox", "true"); r.Code != 125 || !strings.Contains(r.Stderr, "user defined networks only") {
			t.Fatalf("--ip on the default bridge: %s", r)
		}
		if ls := e.must(k, "network", "ls", "--filter", "label=team=net", "--format", "{{.Name}} {{.Driver}}"); ls != n+" bridge" {
			t.Fatalf("ls: %q", ls)
		}
		if r := e.run(k, "", "network", "create", n); r.Code == 0 || !strings.Contains(r.Stderr, "already exists") {
			t.Fatalf("duplicate: %s", r)
		}
		if r := e.run(k, "", "network", "create", "--subnet", subnet, name("overlap")); r.Code == 0 || !strings.Contains(r.Stderr, "overlaps") {
			t.Fatalf("overlapping subnet: %s", r)
		}
		if r := e.run(k, "", "network", "rm", "bridge"); r.Code == 0 || !strings.Contains(r.Stderr, "pre-defined") {
			t.Fatalf("rm bridge: %s", r)
		}
		if r := e.run(k, "", "network", "inspect", name("nosuch")); r.Code == 0 || !strings.Contains(r.Stderr, "not found") {
			t.Fatalf("inspect missing: %s", r)
		}
		if r := e.run(k, "", "run", "--rm", "--network", name("nosuch"), "busybox", "true"); r.Code != 125 || !strings.Contains(r.Stderr, "not found") {
			t.Fatalf("run on a missing network: %s", r)
		}
		w := web(t, n)
		if r := e.run(k, "", "network", "rm", n); r.Code == 0 || !strings.Contains(r.Stderr, "active endpoints") {
			t.Fatalf("rm in use: %s", r)
		}
		e.must(k, "rm", "-f", w)
		if out := e.must(k, "network", "rm", n); out != n {
			t.Fatalf("rm printed %q", out)
		}
		if bridge.Exists(br) {
			t.Fatalf("bridge %s left after rm", br)
		}
		p1, p2 := name("prune1"), name("prune2")
		e.must(k, "network", "create", p1)
		e.must(k, "network", "create", p2)
		w = web(t, p2)
		out = e.must(k, "network", "prune", "-f")
		if !strings.Contains(out, p1) || strings.Contains(out, p2) {
			t.Fatalf("prune: %q", out)
		}
		e.must(k, "rm", "-f", w)
	})
}

// TestDNSWhileDaemonDown: the resolver is its own process; names keep
// resolving while the daemon is killed, and after it is back.
func TestDNSWhileDaemonDown(t *testing.T) {
	e := newEnv(t)
	e.must(berthCLI, "network", "create", "dnsnet")
	e.must(berthCLI, "run", "-d", "--name", "target", "--network", "dnsnet", "busybox", "sleep", "600")
	e.must(berthCLI, "run", "-d", "--name", "asker", "--network", "dnsnet", "busybox", "sleep", "600")
	want := e.must(berthCLI, "inspect", "-f", "{{.NetworkSettings.Networks.dnsnet.IPAddress}}", "target")
	sandbox := e.must(berthCLI, "inspect", "-f", "{{.NetworkSettings.SandboxKey}}", "asker")
	gw := e.must(berthCLI, "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", "dnsnet")
	// The query is sent from inside the asker's namespace, on one thread
	// (Go's resolver would fan out to threads outside it).
	lookup := func() (string, error) {
		var got string
		err := nstest.Do(sandbox, func() error {
			c, err := net.Dial("udp4", gw+":53")
			if err != nil {
				return err
			}
			defer c.Close()
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 7, RecursionDesired: true})
			b.StartQuestions()
			b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName("target."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
			q, _ := b.Finish()
			// A UDP query is sent again when no answer comes, as
			// resolvers do (the machine may be loaded), for up to 60 s.
			buf := make([]byte, 512)
			var n int
			for deadline := time.Now().Add(60 * time.Second); ; {
				if _, err := c.Write(q); err != nil {
					return err
				}
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if n, err = c.Read(buf); err == nil {
					break
				}
				if ne, ok := err.(net.Error); !ok || !ne.Timeout() || time.Now().After(deadline) {
					return err
				}
			}
			var p dnsmessage.Parser
			if _, err := p.Start(buf[:n]); err != nil {
				return err
			}
			p.SkipAllQuestions()
			a, err := p.AllAnswers()
			if err != nil {
				return err
			}
			for _, r := range a {
				if ar, ok := r.Body.(*dnsmessage.AResource); ok {
					got = netip.AddrFrom4(ar.A).String()
				}
			}
			return nil
		})
		return got, err
	}
	if got, err := lookup(); err != nil || got != want {
		t.Fatalf("with the daemon: %q %v, want %s", got, err, want)
	}
	e.Kill()
	if got, err := lookup(); err != nil || got != want {
		t.Fatalf("daemon down: %q %v, want %s", got, err, want)
	}
	e.StartProcess()
	if got, err := lookup(); err != nil || got != want {
		t.Fatalf("daemon back: %q %v, want %s", got, err, want)
	}
}

// TestNetworkNoLeaks counts what one daemon owns on the host (links with
// its prefix, addresses on them, rules in its table, leases, namespace
// files) before and after create/start/rm cycles with a published port on
// a user network and on the default bridge, and across a daemon kill -9
// and restart.
func TestNetworkNoLeaks(t *testing.T) {
	e := newEnv(t)
	cycles := 100
	if testing.Short() {
		cycles = 10
	}
	e.must(berthCLI, "network", "create", "leaknet")
	// One container keeps running through the kill: its networking must
	// survive the restart.
	e.must(berthCLI, "run", "-d", "--name", "keeper", "--network", "leaknet", "-p", "80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
	_, keeperPort, _ := net.SplitHostPort(e.must(berthCLI, "port", "keeper", "80"))
	before := e.netCounts(t)
	ctx := context.Background()
	for i := 0; i < cycles; i++ {
		network := "leaknet"
		if i%2 == 1 {
			network = "bridge"
		}
		id := e.must(berthCLI, "create", "--network", network, "-p", "80", "busybox", "true")
		if _, err := e.Client.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
			t.Fatalf("cycle %d: start: %v", i, err)
		}
		e.waitExit(id)
		if _, err := e.Client.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true}); err != nil {
			t.Fatalf("cycle %d: rm: %v", i, err)
		}
	}
	e.eventuallyCounts(t, "after the cycles", before)
	// A container exits while the daemon is killed: the restarted
	// daemon releases what it held.
	id := e.must(berthCLI, "run", "-d", "--network", "leaknet", "-p", "80", "busybox", "sleep", "2")
	e.Kill()
	state := filepath.Join(e.DataRoot, "containers", id, "state.json")
	waitFor(t, "the container to exit while the daemon is down", func() bool {
		b, _ := os.ReadFile(state)
		return strings.Contains(string(b), `"Status":"exited"`)
	})
	e.StartProcess()
	e.eventuallyCounts(t, "after a daemon kill and restart", before)
	e.must(berthCLI, "rm", id)
	if got, err := httpGet("http://127.0.0.1:" + keeperPort + "/hostname"); err != nil || !strings.HasPrefix(got, strings.TrimSpace(e.must(berthCLI, "inspect", "-f", "{{.Config.Hostname}}", "keeper"))) {
		t.Fatalf("keeper's published port after the restart: %q %v", got, err)
	}
}

// netCounts is what the daemon owns on the host.
type netCounts struct {
	Links, Addrs, Rules, Leases, StateEndpoints, Namespaces int
}

func (e *env) netCounts(t *testing.T) netCounts {
	t.Helper()
	var c netCounts
	for _, l := range e.Net.Links(t) {
		if strings.HasPrefix(l, e.Net.Prefix+"o") {
			continue // the test's own outside namespace
		}
		c.Links++
		if i, err := net.InterfaceByName(l); err == nil {
			addrs, _ := i.Addrs()
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
					c.Addrs++
				}
			}
		}
	}
	rules, err := firewall.New(e.Net.Table).Rules()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range rules {
		c.Rules += n
	}
	nets, err := e.Client.NetworkList(context.Background(), client.NetworkListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nets.Items {
		res, err := e.Client.NetworkInspect(context.Background(), n.ID, client.NetworkInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c.Leases += len(res.Network.Containers)
	}
	run := filepath.Join(e.Dir, "run")
	if st, err := network.ReadState(filepath.Join(run, "network", "state.json")); err == nil {
		c.StateEndpoints = len(st.Endpoints)
	}
	ns, _ := os.ReadDir(filepath.Join(run, "netns"))
	c.Namespaces = len(ns)
	return c
}

// eventuallyCounts waits until the counts are back to want (veths go in
// the background).
func (e *env) eventuallyCounts(t *testing.T, when string, want netCounts) {
	t.Helper()
	var got netCounts
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if got = e.netCounts(t); got == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: owned resources %+v, want %+v (links %v)", when, got, want, e.Net.Links(t))
}

// with returns a copy of e whose helpers fail t.
func (e *env) with(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// TestRulesRestoredAfterForeignFlush stands in for dockerd, which makes
// its FORWARD chain with policy drop and recreates it when it restarts:
// the daemon puts its accept rules back, and egress works again.
func TestRulesRestoredAfterForeignFlush(t *testing.T) {
	e := newEnv(t)
	outside := e.outside(t)
	bridges := e.Net.Links(t) // the default bridge and the outside's
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	drop := nftables.ChainPolicyDrop
	tbl := &nftables.Table{Name: "tforeign" + randHex(3), Family: nftables.TableFamilyIPv4}
	chain := &nftables.Chain{Name: "FORWARD", Table: tbl, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &drop}
	// It drops only what goes through this test's bridges.
	acceptOthers := func() {
		var ex []expr.Any
		for _, b := range bridges {
			for _, key := range []expr.MetaKey{expr.MetaKeyIIFNAME, expr.MetaKeyOIFNAME} {
				ex = append(ex, &expr.Meta{Key: key, Register: 1}, &expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: append([]byte(b), 0)})
			}
		}
		c.AddRule(&nftables.Rule{Table: tbl, Chain: chain, Exprs: append(ex, &expr.Verdict{Kind: expr.VerdictAccept})})
	}
	c.AddTable(tbl)
	c.AddChain(chain)
	acceptOthers()
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.DelTable(tbl)
		c.Flush()
	})
	restored := func() bool {
		rules, err := c.GetRules(tbl, chain)
		return err == nil && len(rules) >= 3 // two accepts for the default bridge and the other tool's rule
	}
	waitFor(t, "berth's accept rules in the foreign chain", restored)
	if out := e.must(berthCLI, "run", "--rm", "busybox", "nc", outside, "7"); !strings.HasPrefix(out, "outside") {
		t.Fatalf("egress with the foreign chain: %q", out)
	}
	// The other tool flushes its chain and writes its own rules again.
	c.FlushChain(chain)
	acceptOthers()
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "berth's accept rules back after the flush", restored)
	if out := e.must(berthCLI, "run", "--rm", "busybox", "nc", outside, "7"); !strings.HasPrefix(out, "outside") {
		t.Fatalf("egress after the flush: %q", out)
	}
}

// TestDefaultSubnetChosenAgainAfterClash: while the daemon was down (a
// reboot), another bridge took the default network's subnet; the daemon
// picks a new one instead of routing into the other bridge.
func TestDefaultSubnetChosenAgainAfterClash(t *testing.T) {
	e := newEnv(t)
	subnet := e.must(berthCLI, "network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", "bridge")
	e.Kill()
	if err := bridge.Delete(e.Net.Prefix + "0"); err != nil {
		t.Fatal(err)
	}
	p := netip.MustParsePrefix(subnet)
	other := e.Net.Prefix + "o" + randHex(2)
	if _, err := bridge.Ensure(other, netip.PrefixFrom(p.Addr().Next().Next(), p.Bits()), 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bridge.Delete(other) })
	e.StartProcess()
	now := e.must(berthCLI, "network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", "bridge")
	if now == subnet || netip.MustParsePrefix(now).Overlaps(p) {
		t.Fatalf("default subnet %s still overlaps the other bridge's %s", now, subnet)
	}
	gw := e.must(berthCLI, "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", "bridge")
	if out := e.must(berthCLI, "run", "--rm", "busybox", "ping", "-c", "1", "-W", "5", gw); !strings.Contains(out, "1 packets received") {
		t.Fatalf("gateway %s: %q", gw, out)
	}
}

// waitHTTP waits until the server in container c answers on port.
func (e *env) waitHTTP(k cliKind, c, port string) {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if r := e.run(k, "", "exec", c, "wget", "-qO", "/dev/null", "http://127.0.0.1:"+port+"/"); r.Code == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatalf("the server in %s does not answer on port %s", c, port)
}

// waitFor polls cond for up to a minute (the machine may be loaded).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestSecondDaemonSameNames: a daemon that would share another's
// nftables table or link prefix refuses to start (it would delete the
// other's rules and links as strays).
func TestSecondDaemonSameNames(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	exe, _ := os.Executable()
	for _, flags := range [][]string{
		{"--bridge-prefix", e.Net.Prefix, "--nft-table", e.Net.Table + "x"},
		{"--bridge-prefix", e.Net.Prefix + "x", "--nft-table", e.Net.Table},
	} {
		args := append([]string{"daemon", "-H", "unix://" + filepath.Join(dir, "s.sock"), "--data-root", filepath.Join(dir, "data"),
			"--exec-root", filepath.Join(dir, "run"), "--default-runtime", testRuntime(), "--cgroup-parent", e.CgroupParent + "x"}, flags...)
		cmd := exec.Command(exe, args...)
		cmd.Env = append(os.Environ(), mainEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "another berth daemon uses") {
			t.Fatalf("second daemon with %v: %v: %s", flags, err, out)
		}
	}
	// The first one is unharmed.
	if out := e.must(berthCLI, "run", "--rm", "busybox", "true"); out != "" {
		t.Fatalf("first daemon: %q", out)
	}
}

// TestStraysRemovedAtStart: veths and namespace files that an earlier
// daemon left (killed while it deleted them) go at the next start; links
// of the same prefix that are not the daemon's shape stay.
func TestStraysRemovedAtStart(t *testing.T) {
	e := newEnv(t)
	e.Kill()
	stray := e.Net.Prefix + "v" + randHex(4)
	other := e.Net.Prefix + "x" + randHex(2)
	for _, name := range []string{stray, other} {
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: "tp" + randHex(5)}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { bridge.Delete(stray); bridge.Delete(other) })
	ns := filepath.Join(e.Dir, "run", "netns", randHex(32))
	if err := bridge.NewNetns(ns); err != nil {
		t.Fatal(err)
	}
	e.StartProcess()
	if bridge.Exists(stray) {
		t.Fatalf("stray veth %s left", stray)
	}
	if !bridge.Exists(other) {
		t.Fatalf("%s, not of the daemon's shape, was removed", other)
	}
	if _, err := os.Stat(ns); !os.IsNotExist(err) {
		t.Fatalf("stray namespace file %s left: %v", ns, err)
	}
}
