package main

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"time"
)

func engineRunBridge() Benchmark {
	return Benchmark{
		Name:  "engine-run-bridge",
		Order: 25,
		Title: "run --rm IMG true on the default bridge network",
		About: "One run is `ENGINE run --rm " + benchImage + " true` with the engine's default\n" +
			`network: the container gets a network namespace, a veth on the default
bridge, an address and its /etc files, and gives them back at exit.
docker uses docker0 (libnetwork, iptables), podman its default network
(netavark), berth its default bridge (netlink, nftables). berth is the CLI
of the daemon at $BERTH_HOST (the default socket when unset).
Target (issue 5): berth ≤ 80 ms.`,
		Setup: func(env Env) ([]Contender, func(), error) {
			return setupEngines(env, func(e engineCLI) func(int) (time.Duration, error) {
				return func(int) (time.Duration, error) {
					return timeCmd(env.Ctx, env.Timeout, e.cmd("run", "--rm", e.image, "true")...)
				}
			})
		},
	}
}

// throughputBytes is what one network-throughput run sends.
const throughputBytes = 1 << 30

func networkThroughput() Benchmark {
	return Benchmark{
		Name:  "network-throughput",
		Order: 26,
		Title: "1 GiB over TCP through a published port (iperf3)",
		About: `Each engine runs one container with ` + "`iperf3 -s`" + ` (the host's iperf3 from
apt, its /usr bind-mounted read-only into the busybox image) published with
` + "`-p 5201`" + ` on a random host port. One run is ` + "`iperf3 -c HOSTADDR -p PORT -n 1G -J`" + `
on the host against the host's own non-loopback address, so every engine's
DNAT path is measured (docker's userland proxy serves only 127.0.0.1);
the time is iperf3's own transfer time of the 1 GiB. Report only (issue 5):
no target.`,
		Rate: func(d time.Duration) string {
			return fmt.Sprintf("%.2f Gbit/s", float64(throughputBytes)*8/d.Seconds()/1e9)
		},
		Setup: func(env Env) ([]Contender, func(), error) {
			client := lookPath("iperf3")
			host := hostIPv4()
			return setupEngines(env, func(e engineCLI) func(int) (time.Duration, error) {
				if client == "" {
					return func(int) (time.Duration, error) {
						return 0, fmt.Errorf("iperf3 is not installed (apt-get install iperf3)")
					}
				}
				port, err := startIperfServer(env, e)
				if err != nil {
					return func(int) (time.Duration, error) { return 0, err }
				}
				return func(int) (time.Duration, error) { return iperfRun(env, client, host, port) }
			})
		},
	}
}

// startIperfServer runs iperf3 -s in a container of e and returns the
// host port it is published on.
func startIperfServer(env Env, e engineCLI) (string, error) {
	name := e.namePrefix() + "iperf"
	if _, err := timeCmd(env.Ctx, 2*time.Minute, e.cmd("run", "-d", "--name", name, "-p", "5201",
		"-v", "/usr:/usr:ro", "-v", "/usr/lib:/lib:ro", "-v", "/usr/lib64:/lib64:ro",
		e.image, "/usr/bin/iperf3", "-s")...); err != nil {
		return "", fmt.Errorf("start the iperf3 server: %w", err)
	}
	out, err := output(time.Minute, e.cmd("port", name, "5201/tcp")...)
	if err != nil {
		return "", err
	}
	_, port, err := net.SplitHostPort(strings.Fields(out)[0])
	if err != nil {
		return "", fmt.Errorf("port %q: %w", out, err)
	}
	// Wait until the server answers.
	for i := 0; i < 100; i++ {
		if c, err := net.DialTimeout("tcp4", net.JoinHostPort("127.0.0.1", port), time.Second); err == nil {
			c.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return port, nil
}

// iperfRun sends throughputBytes and returns iperf3's transfer time.
func iperfRun(env Env, client, host, port string) (time.Duration, error) {
	var out string
	var err error
	// The server serves one client at a time: retry while it is busy.
	for i := 0; i < 20; i++ {
		out, err = output(env.Timeout, client, "-c", host, "-p", port, "-n", fmt.Sprint(throughputBytes), "-J")
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return 0, err
	}
	var res struct {
		End struct {
			SumReceived struct {
				Seconds float64 `json:"seconds"`
				Bytes   int64   `json:"bytes"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		return 0, fmt.Errorf("iperf3 output: %w", err)
	}
	r := res.End.SumReceived
	if r.Bytes < throughputBytes*9/10 || r.Seconds <= 0 {
		return 0, fmt.Errorf("iperf3 received %d bytes in %fs", r.Bytes, r.Seconds)
	}
	// The receiver's count stops a little short of what was sent: scale
	// its time to the full 1 GiB.
	return time.Duration(r.Seconds * float64(throughputBytes) / float64(r.Bytes) * float64(time.Second)), nil
}

// hostIPv4 is the host's first non-loopback IPv4 address, skipping
// bridges of container engines; 127.0.0.1 when there is none.
func hostIPv4() string {
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 || i.Flags&net.FlagUp == 0 {
			continue
		}
		if strings.HasPrefix(i.Name, "docker") || strings.HasPrefix(i.Name, "br-") || strings.HasPrefix(i.Name, "berth") ||
			strings.HasPrefix(i.Name, "podman") || strings.HasPrefix(i.Name, "cni") || strings.HasPrefix(i.Name, "veth") {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
				return n.IP.String()
			}
		}
	}
	return "127.0.0.1"
}
