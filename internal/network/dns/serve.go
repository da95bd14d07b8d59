package dns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
)

// ServeUDP answers queries on c until it is closed.
func (r *Resolver) ServeUDP(c net.PacketConn) error {
	p := ipv4.NewPacketConn(c)
	if err := p.SetControlMessage(ipv4.FlagDst, true); err != nil {
		return fmt.Errorf("dns: ask for destination addresses: %w", err)
	}
	buf := make([]byte, 65535)
	for {
		n, cm, from, err := p.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		ua, ok := from.(*net.UDPAddr)
		if !ok || cm == nil {
			continue
		}
		src, _ := netip.AddrFromSlice(ua.IP)
		dst, _ := netip.AddrFromSlice(cm.Dst)
		query := append([]byte(nil), buf[:n]...)
		go func() {
			resp := r.handle(query, src.Unmap(), dst.Unmap(), "udp")
			if resp != nil {
				p.WriteTo(resp, &ipv4.ControlMessage{Src: cm.Dst}, from)
			}
		}()
	}
}

// ServeTCP answers queries over TCP (length-prefixed) on l until it is
// closed.
func (r *Resolver) ServeTCP(l net.Listener) error {
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go r.serveConn(c)
	}
}

func (r *Resolver) serveConn(c net.Conn) {
	defer c.Close()
	src := addrOf(c.RemoteAddr())
	dst := addrOf(c.LocalAddr())
	for {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		query, err := readMsg(c)
		if err != nil {
			return
		}
		resp := r.handle(query, src, dst, "tcp")
		if resp == nil {
			return
		}
		if err := writeMsg(c, resp); err != nil {
			return
		}
	}
}

func addrOf(a net.Addr) netip.Addr {
	if t, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(t.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}

// handle answers one query: from the container records, or from an
// upstream server.
func (r *Resolver) handle(query []byte, src, dst netip.Addr, proto string) []byte {
	q, ok := question(query)
	if !ok {
		return nil
	}
	v := r.decide(q, src, dst)
	if v.drop {
		return nil
	}
	if !v.forward {
		return reply(query, v)
	}
	for _, up := range v.upstreams {
		if resp, err := r.exchange(query, up, proto); err == nil {
			return resp
		}
	}
	return servfail(query)
}

// exchange forwards query to server (host[:port]) and returns its answer.
func (r *Resolver) exchange(query []byte, server, proto string) ([]byte, error) {
	if _, _, err := net.SplitHostPort(server); err != nil {
		server = net.JoinHostPort(server, "53")
	}
	c, err := net.DialTimeout(proto, server, r.Timeout)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(r.Timeout))
	if proto == "tcp" {
		if err := writeMsg(c, query); err != nil {
			return nil, err
		}
		return readMsg(c)
	}
	if _, err := c.Write(query); err != nil {
		return nil, err
	}
	buf := make([]byte, 65535)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return nil, err
		}
		if n >= 12 && buf[0] == query[0] && buf[1] == query[1] {
			return buf[:n], nil
		}
	}
}

func readMsg(c io.Reader) ([]byte, error) {
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(c, b); err != nil {
		return nil, err
	}
	return b, nil
}

func writeMsg(c io.Writer, b []byte) error {
	out := make([]byte, 2+len(b))
	binary.BigEndian.PutUint16(out, uint16(len(b)))
	copy(out[2:], b)
	_, err := c.Write(out)
	return err
}

// Main is `berth dns-resolver STATE-FILE`: the daemon passes the UDP
// socket as fd 3 and the TCP listener as fd 4 (both bound to its DNS
// port on all addresses). It serves until SIGTERM, or until the state
// file's directory is gone (the daemon's exec root was removed).
func Main(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: berth dns-resolver STATE-FILE")
		return 2
	}
	pc, err := net.FilePacketConn(os.NewFile(3, "dns-udp"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "dns-resolver: udp socket:", err)
		return 1
	}
	l, err := net.FileListener(os.NewFile(4, "dns-tcp"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "dns-resolver: tcp listener:", err)
		return 1
	}
	signal.Ignore(syscall.SIGHUP, syscall.SIGPIPE)
	r := New(args[0])
	go func() {
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-sigs:
				pc.Close()
				l.Close()
				return
			case <-tick.C:
				if _, err := os.Stat(filepath.Dir(args[0])); os.IsNotExist(err) {
					pc.Close()
					l.Close()
					return
				}
			}
		}
	}()
	go func() {
		if err := r.ServeTCP(l); err != nil {
			log.Printf("dns-resolver: tcp: %v", err)
		}
	}()
	if err := r.ServeUDP(pc); err != nil {
		log.Printf("dns-resolver: udp: %v", err)
		return 1
	}
	return 0
}
