// Package resolvconf reads and writes resolv.conf(5): the host's, to
// learn its resolvers, and the containers', which berth generates.
package resolvconf

import (
	"bufio"
	"bytes"
	"net/netip"
	"os"
	"strings"
)

// File is the part of a resolv.conf berth uses.
type File struct {
	Nameservers []string
	Search      []string
	Options     []string
}

// Parse reads a resolv.conf.
func Parse(b []byte) File {
	var f File
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		fields := strings.Fields(line)
		switch fields[0] {
		case "nameserver":
			if len(fields) > 1 {
				f.Nameservers = append(f.Nameservers, fields[1])
			}
		case "search", "domain":
			f.Search = fields[1:]
		case "options":
			f.Options = append(f.Options, fields[1:]...)
		}
	}
	return f
}

// Host reads the host's /etc/resolv.conf (empty when it is missing).
func Host() File {
	b, _ := os.ReadFile("/etc/resolv.conf")
	return Parse(b)
}

// Bytes renders f.
func (f File) Bytes() []byte {
	var b bytes.Buffer
	for _, ns := range f.Nameservers {
		b.WriteString("nameserver " + ns + "\n")
	}
	if len(f.Search) > 0 {
		b.WriteString("search " + strings.Join(f.Search, " ") + "\n")
	}
	if len(f.Options) > 0 {
		b.WriteString("options " + strings.Join(f.Options, " ") + "\n")
	}
	return b.Bytes()
}

// WithoutLoopback drops nameservers on loopback addresses, which a
// container in its own network namespace cannot reach.
func (f File) WithoutLoopback() File {
	var ns []string
	for _, s := range f.Nameservers {
		if a, err := netip.ParseAddr(s); err == nil && a.IsLoopback() {
			continue
		}
		ns = append(ns, s)
	}
	f.Nameservers = ns
	return f
}

// DefaultNameservers are Docker's when the host has no usable one.
var DefaultNameservers = []string{"8.8.8.8", "8.8.4.4"}
