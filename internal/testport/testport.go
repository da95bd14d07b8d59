// Package testport picks TCP ports for test servers that must be told
// their port before they start, or that restart on the same port.
package testport

import (
	"crypto/rand"
	"encoding/binary"
	"net"
	"os"
	"strconv"
	"testing"
)

// Free returns "127.0.0.1:PORT" with a port that is free now and lies
// below the kernel's ephemeral range (ip_local_port_range), so that no
// outgoing connection or ":0" listener of another process can take it
// between this call and the server's bind, or while the server restarts.
func Free(t testing.TB) string {
	t.Helper()
	low := ephemeralLow()
	const base = 10000
	if low > base+1000 {
		for i := 0; i < 1000; i++ {
			var b [4]byte
			rand.Read(b[:])
			port := base + int(binary.BigEndian.Uint32(b[:])%uint32(low-base))
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			if l, err := net.Listen("tcp4", addr); err == nil {
				l.Close()
				return addr
			}
		}
	}
	// No room below the ephemeral range: let the kernel pick.
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// ephemeralLow is the lowest port the kernel hands out on its own.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	var low int
	for _, c := range string(b) {
		if c < '0' || c > '9' {
			break
		}
		low = low*10 + int(c-'0')
	}
	if low == 0 {
		return 32768
	}
	return low
}
