// Package platform describes, parses and matches image platforms
// (os/architecture/variant) for selecting a manifest from an index.
package platform

import (
	"errors"
	"fmt"
	"runtime"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/internal/errdefs"
)

// ErrInvalid is wrapped by Parse errors (an invalid argument).
var ErrInvalid = errdefs.InvalidArgument(errors.New("invalid platform"))

// Normalize lower-cases a platform and maps architecture aliases and
// default variants to their canonical form (x86_64 -> amd64, aarch64 ->
// arm64, arm64/v8 -> arm64, arm -> arm/v7, amd64/v1 -> amd64).
func Normalize(p ocispec.Platform) ocispec.Platform {
	p.OS = strings.ToLower(p.OS)
	if p.OS == "macos" {
		p.OS = "darwin"
	}
	arch, variant := strings.ToLower(p.Architecture), strings.ToLower(p.Variant)
	switch arch {
	case "i386", "i686", "x86":
		arch, variant = "386", ""
	case "x86_64", "x86-64", "amd64":
		arch = "amd64"
		if variant == "v1" {
			variant = ""
		}
	case "aarch64", "arm64":
		arch = "arm64"
		if variant == "8" || variant == "v8" {
			variant = ""
		}
	case "armhf":
		arch, variant = "arm", "v7"
	case "armel":
		arch, variant = "arm", "v6"
	case "arm":
		switch variant {
		case "", "7":
			variant = "v7"
		case "5", "6", "8":
			variant = "v" + variant
		}
	}
	p.Architecture, p.Variant = arch, variant
	return p
}

// Parse reads "os", "os/arch", "os/arch/variant" or a bare architecture
// ("arm64", taken as linux/arm64), normalised.
func Parse(s string) (ocispec.Platform, error) {
	parts := strings.Split(strings.TrimSpace(s), "/")
	var p ocispec.Platform
	switch len(parts) {
	case 1:
		if parts[0] == "" {
			return p, fmt.Errorf("%q: %w", s, ErrInvalid)
		}
		if isOS(parts[0]) {
			p = ocispec.Platform{OS: parts[0], Architecture: runtime.GOARCH}
		} else {
			p = ocispec.Platform{OS: "linux", Architecture: parts[0]}
		}
	case 2:
		p = ocispec.Platform{OS: parts[0], Architecture: parts[1]}
	case 3:
		p = ocispec.Platform{OS: parts[0], Architecture: parts[1], Variant: parts[2]}
	default:
		return p, fmt.Errorf("%q: %w", s, ErrInvalid)
	}
	for _, part := range parts {
		if part == "" {
			return p, fmt.Errorf("%q: empty component: %w", s, ErrInvalid)
		}
	}
	return Normalize(p), nil
}

func isOS(s string) bool {
	switch strings.ToLower(s) {
	case "linux", "windows", "darwin", "freebsd", "netbsd", "openbsd", "solaris", "illumos", "aix", "plan9", "js", "wasip1", "android", "ios":
		return true
	}
	return false
}

// Format renders os/arch[/variant].
func Format(p ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Host returns this machine's platform, normalised.
func Host() ocispec.Platform {
	return Normalize(ocispec.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH, Variant: hostVariant()})
}

// Matcher accepts platforms and ranks the accepted ones.
type Matcher struct {
	order []ocispec.Platform // most preferred first
}

// Only matches p and the platforms p can run (lower variants of the same
// architecture, e.g. amd64/v3 runs v2 and v1; arm/v7 runs v6 and v5),
// preferring p itself.
func Only(p ocispec.Platform) Matcher {
	p = Normalize(p)
	m := Matcher{order: []ocispec.Platform{p}}
	var lower []string
	switch p.Architecture {
	case "amd64":
		lower = lowerVariants(p.Variant, []string{"v4", "v3", "v2", ""})
	case "arm":
		lower = lowerVariants(p.Variant, []string{"v8", "v7", "v6", "v5"})
	}
	for _, v := range lower {
		q := p
		q.Variant = v
		m.order = append(m.order, q)
	}
	return m
}

func lowerVariants(v string, all []string) []string {
	for i, x := range all {
		if x == v {
			return all[i+1:]
		}
	}
	return nil
}

// Default matches what this host can run.
func Default() Matcher { return Only(Host()) }

func (m Matcher) rank(p ocispec.Platform) int {
	p = Normalize(p)
	for i, q := range m.order {
		if q.OS == p.OS && q.Architecture == p.Architecture && q.Variant == p.Variant {
			return i
		}
	}
	return -1
}

// Match reports whether the matcher accepts p.
func (m Matcher) Match(p ocispec.Platform) bool { return m.rank(p) >= 0 }

// Less reports whether a is preferred over b.
func (m Matcher) Less(a, b ocispec.Platform) bool {
	ra, rb := m.rank(a), m.rank(b)
	if ra < 0 {
		return false
	}
	return rb < 0 || ra < rb
}

// String lists the accepted platforms.
func (m Matcher) String() string {
	var s []string
	for _, p := range m.order {
		s = append(s, Format(p))
	}
	return strings.Join(s, ", ")
}
