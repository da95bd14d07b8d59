package portmap

import (
	"errors"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/errdefs"
)

// Reservation holds host ports: one bound socket per mapping.
type Reservation struct {
	Mappings []Mapping
	fds      []int
}

// Close releases the ports.
func (r *Reservation) Close() {
	if r == nil {
		return
	}
	for _, fd := range r.fds {
		unix.Close(fd)
	}
	r.fds = nil
}

// Reserve binds a host port for each request: the given one, a free one
// of its range, or a random free one. On error nothing stays bound; the
// error names the port that was taken, in Docker's words.
func Reserve(reqs []Request) (*Reservation, error) {
	r := &Reservation{}
	for _, q := range reqs {
		m := Mapping{HostIP: q.HostIP, Proto: q.Proto, ContainerPort: q.ContainerPort}
		var fd int
		var err error
		if q.HostStart == 0 {
			fd, m.HostPort, err = bind(q.HostIP, 0, q.Proto)
		} else {
			for p := int(q.HostStart); p <= int(q.HostEnd); p++ {
				if fd, m.HostPort, err = bind(q.HostIP, uint16(p), q.Proto); err == nil {
					break
				}
			}
		}
		if err != nil {
			r.Close()
			port := fmt.Sprint(q.HostStart)
			if q.HostEnd != q.HostStart {
				port = fmt.Sprintf("%d-%d", q.HostStart, q.HostEnd)
			}
			if errors.Is(err, unix.EADDRINUSE) {
				return nil, errdefs.Conflictf("Bind for %s:%s failed: port is already allocated", q.HostIP, port)
			}
			return nil, fmt.Errorf("bind host port %s:%s/%s: %w", q.HostIP, port, q.Proto, err)
		}
		r.fds = append(r.fds, fd)
		r.Mappings = append(r.Mappings, m)
	}
	return r, nil
}

// Hold binds exactly the given mappings again (a restarted daemon taking
// back the ports of running containers).
func Hold(ms []Mapping) (*Reservation, error) {
	var reqs []Request
	for _, m := range ms {
		reqs = append(reqs, Request{HostIP: m.HostIP, HostStart: m.HostPort, HostEnd: m.HostPort, Proto: m.Proto, ContainerPort: m.ContainerPort})
	}
	return Reserve(reqs)
}

// bind binds a socket of proto to ip:port (0: the kernel picks) and
// returns it with the port it got.
func bind(ip netip.Addr, port uint16, proto string) (int, uint16, error) {
	typ := unix.SOCK_STREAM
	if proto == "udp" {
		typ = unix.SOCK_DGRAM
	}
	fd, err := unix.Socket(unix.AF_INET, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, 0, err
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: ip.As4(), Port: int(port)}); err != nil {
		unix.Close(fd)
		return -1, 0, err
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return -1, 0, err
	}
	return fd, uint16(sa.(*unix.SockaddrInet4).Port), nil
}
