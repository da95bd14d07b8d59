package networks

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// resolver manages the DNS resolver process (`berth dns-resolver`). The
// daemon binds its sockets and hands them over, so the port is known
// before the process runs; the process outlives the daemon, which adopts
// it again at start (resolver.json records its pid, start time and port).
type resolver struct {
	dir  string
	argv []string
	port uint16 // configured; 0: any

	mu  sync.Mutex
	cur resolverInfo
}

type resolverInfo struct {
	Pid   int
	Start uint64 // the process's start time, against pid reuse
	Port  uint16
}

func (r *resolver) infoPath() string { return filepath.Join(r.dir, "resolver.json") }

func (r *resolver) loadLocked() {
	if r.cur.Pid != 0 {
		return
	}
	b, err := os.ReadFile(r.infoPath())
	if err != nil {
		return
	}
	json.Unmarshal(b, &r.cur)
}

func (r *resolver) aliveLocked() bool {
	return r.cur.Pid > 0 && startTime(r.cur.Pid) == r.cur.Start && r.cur.Start != 0
}

func (r *resolver) alive() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.loadLocked()
	return r.aliveLocked()
}

// currentPort is the resolver's port (0 before it ever ran).
func (r *resolver) currentPort() uint16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.loadLocked()
	if r.cur.Port == 0 {
		return r.port
	}
	return r.cur.Port
}

// ensure starts the resolver unless it runs.
func (r *resolver) ensure() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.loadLocked()
	if r.aliveLocked() {
		return nil
	}
	if len(r.argv) == 0 {
		return errors.New("no resolver command configured")
	}
	port := r.port
	if port == 0 {
		port = r.cur.Port // keep the port the rules already name
	}
	udp, tcp, err := bindDNS(port)
	if err != nil && r.port == 0 && port != 0 {
		udp, tcp, err = bindDNS(0)
	}
	if err != nil {
		return err
	}
	defer udp.Close()
	defer tcp.Close()
	uf, err := udp.File()
	if err != nil {
		return err
	}
	defer uf.Close()
	tf, err := tcp.File()
	if err != nil {
		return err
	}
	defer tf.Close()
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(r.dir, "resolver.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(r.argv[0], append(r.argv[1:], filepath.Join(r.dir, "state.json"))...)
	cmd.Env = os.Environ()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{uf, tf}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start resolver: %w", err)
	}
	go cmd.Wait()
	r.cur = resolverInfo{Pid: cmd.Process.Pid, Start: startTime(cmd.Process.Pid), Port: uint16(udp.LocalAddr().(*net.UDPAddr).Port)}
	b, _ := json.Marshal(r.cur)
	return os.WriteFile(r.infoPath(), b, 0o600)
}

// stop ends the resolver (no user network is left).
func (r *resolver) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.loadLocked()
	if r.aliveLocked() {
		syscall.Kill(r.cur.Pid, syscall.SIGTERM)
	}
	r.cur = resolverInfo{Port: r.cur.Port}
	os.Remove(r.infoPath())
}

// bindDNS binds UDP and TCP on all addresses at port (0: a free port
// both protocols have).
func bindDNS(port uint16) (*net.UDPConn, *net.TCPListener, error) {
	var lastErr error
	for i := 0; i < 20; i++ {
		u, err := net.ListenUDP("udp4", &net.UDPAddr{Port: int(port)})
		if err != nil {
			return nil, nil, fmt.Errorf("dns port %d/udp: %w", port, err)
		}
		p := u.LocalAddr().(*net.UDPAddr).Port
		t, err := net.ListenTCP("tcp4", &net.TCPAddr{Port: p})
		if err == nil {
			return u, t, nil
		}
		u.Close()
		lastErr = err
		if port != 0 {
			break
		}
	}
	return nil, nil, fmt.Errorf("dns port %d/tcp: %w", port, lastErr)
}

// startTime reads a process's start time (field 22 of /proc/PID/stat);
// 0 when it does not exist.
func startTime(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0
	}
	if f[0] == "Z" {
		return 0 // a zombie does not answer
	}
	n, _ := strconv.ParseUint(f[19], 10, 64)
	return n
}
