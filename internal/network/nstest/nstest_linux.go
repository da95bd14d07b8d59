// Package nstest runs code of tests inside network namespaces: dialing
// from a container's namespace, listening inside one. Sockets keep the
// namespace they were created in, so a listener made here can be served
// from any goroutine.
package nstest

import (
	"fmt"
	"io"
	"net"
	"runtime"
	"time"

	"github.com/vishvananda/netns"
)

// Do runs f on an OS thread inside the network namespace at path (a
// netns file or /proc/PID/ns/net); the thread goes back to its own
// namespace afterwards.
func Do(path string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		ns, err := netns.GetFromPath(path)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open netns %s: %w", path, err)
			return
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter netns %s: %w", path, err)
			return
		}
		errc <- f()
		// Back before the thread is reused; if that fails it stays locked
		// and the runtime ends it.
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return <-errc
}

// Listen opens a TCP listener on addr inside the namespace at path.
func Listen(path, addr string) (net.Listener, error) {
	var l net.Listener
	err := Do(path, func() (err error) {
		l, err = net.Listen("tcp4", addr)
		return err
	})
	return l, err
}

// Serve answers every connection to l with "<greeting> <remote address>"
// until l is closed.
func Serve(l net.Listener, greeting string) {
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "%s %s", greeting, c.RemoteAddr())
			c.Close()
		}
	}()
}

// Get dials addr over TCP (from the namespace at path, or from the
// caller's when path is "") and returns what the server sends before
// closing.
func Get(path, addr string, timeout time.Duration) (string, error) {
	var out string
	get := func() error {
		c, err := net.DialTimeout("tcp4", addr, timeout)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(timeout))
		b, err := io.ReadAll(c)
		out = string(b)
		return err
	}
	if path == "" {
		return out, get()
	}
	return out, Do(path, get)
}

// ListenPacket opens a UDP socket on addr inside the namespace at path.
func ListenPacket(path, addr string) (net.PacketConn, error) {
	var c net.PacketConn
	err := Do(path, func() (err error) {
		c, err = net.ListenPacket("udp4", addr)
		return err
	})
	return c, err
}

// Echo answers every datagram on c with "echo " and its content until c
// is closed.
func Echo(c net.PacketConn) {
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			c.WriteTo(append([]byte("echo "), buf[:n]...), from)
		}
	}()
}
