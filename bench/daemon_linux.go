package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/network/bridge"
	"github.com/berth-project/berth/internal/network/firewall"
)

// benchDaemon is a berth daemon of a benchmark's own: socket, data and
// log under dir, and its own cgroup parent, link prefix, nftables table
// and address pool (other daemons may run), all removed by stop.
type benchDaemon struct {
	dir, sock                   string
	prefix, table, cgroupParent string
	cmd                         *exec.Cmd
	exited                      <-chan struct{}
	logf                        *os.File
}

// startBenchDaemon starts `berth daemon` under dir; name (two letters)
// keeps the names it takes on the host apart from other benchmarks'.
func startBenchDaemon(berth, dir, name string) (*benchDaemon, error) {
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return nil, err
	}
	pool, err := freePool()
	if err != nil {
		return nil, err
	}
	tag := name + fmt.Sprintf("%05x", os.Getpid()&0xfffff)
	d := &benchDaemon{dir: dir, sock: filepath.Join(dir, "berth.sock"),
		prefix: tag, table: "berth_bench_" + tag, cgroupParent: "berth-bench-" + tag}
	if d.logf, err = os.Create(filepath.Join(dir, "daemon.log")); err != nil {
		return nil, err
	}
	d.cmd = exec.Command(berth, "daemon", "-H", "unix://"+d.sock, "--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "run"), "--cgroup-parent", "/"+d.cgroupParent,
		"--bridge-prefix", d.prefix, "--nft-table", d.table, "--default-address-pool", "base="+pool.String()+",size=24")
	d.cmd.Stdout, d.cmd.Stderr = d.logf, d.logf
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := d.cmd.Start(); err != nil {
		d.logf.Close()
		return nil, err
	}
	d.exited = waited(d.cmd)
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("unix", d.sock); err == nil {
			c.Close()
			return d, nil
		}
		select {
		case <-d.exited:
			deadline = time.Time{}
		default:
		}
	}
	d.stop()
	b, _ := os.ReadFile(filepath.Join(dir, "daemon.log"))
	return nil, fmt.Errorf("berth daemon did not start: %s", strings.TrimSpace(string(b)))
}

// stop stops the daemon (SIGTERM, SIGKILL after 30 s) and removes what it
// keeps on the host after it stops (as dockerd keeps docker0): its netns
// mounts, bridges and veths, nftables table and cgroups.
func (d *benchDaemon) stop() {
	if d == nil || d.cmd == nil {
		return
	}
	stopProcess(d.cmd.Process, d.exited, 30*time.Second)
	d.logf.Close()
	if mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(d.dir)); err == nil {
		for i := len(mounts) - 1; i >= 0; i-- {
			unix.Unmount(mounts[i].Mountpoint, unix.MNT_DETACH)
		}
	}
	if links, err := bridge.Links(d.prefix); err == nil {
		for _, l := range links {
			bridge.Delete(l)
		}
	}
	fw := firewall.New(d.table)
	fw.RemoveForwardAccept("")
	fw.Delete()
	if entries, err := os.ReadDir("/sys/fs/cgroup"); err == nil {
		for _, e := range entries {
			os.Remove(filepath.Join("/sys/fs/cgroup", e.Name(), d.cgroupParent))
		}
	}
	d.cmd = nil
}

// waited waits for the started cmd and returns a channel closed then.
func waited(cmd *exec.Cmd) <-chan struct{} {
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	return done
}

// stopProcess ends p with SIGTERM, or SIGKILL after timeout; exited is
// closed once p is waited for.
func stopProcess(p *os.Process, exited <-chan struct{}, timeout time.Duration) {
	p.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(timeout):
		p.Kill()
		<-exited
	}
}

// freePool picks a /16 of 10.0.0.0/8 that no route of the host overlaps.
func freePool() (netip.Prefix, error) {
	routes, err := bridge.Routes()
	if err != nil {
		return netip.Prefix{}, err
	}
	for b := 200; b < 255; b++ {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(b), 0, 0}), 16)
		free := true
		for _, r := range routes {
			free = free && !r.Dst.Overlaps(p)
		}
		if free {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free /16 in 10.200.0.0-10.254.0.0 for the benchmark's daemon")
}
