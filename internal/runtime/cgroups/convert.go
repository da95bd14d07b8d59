package cgroups

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// sharesToWeight converts cgroup v1 cpu.shares [2, 262144] to cgroup v2
// cpu.weight [1, 10000] with runc's linear mapping; 0 stays unset.
func sharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	if shares < 2 {
		shares = 2
	}
	if shares > 262144 {
		shares = 262144
	}
	return 1 + ((shares-2)*9999)/262142
}

// blkioWeightToIOWeight converts a blkio weight [10, 1000] to io.weight
// [1, 10000]; 0 stays unset.
func blkioWeightToIOWeight(w uint16) uint64 {
	if w == 0 {
		return 0
	}
	v := uint64(w)
	if v < 10 {
		v = 10
	}
	if v > 1000 {
		v = 1000
	}
	return 1 + (v-10)*9999/990
}

// swapToV2 converts the OCI swap value (memory+swap, -1 = unlimited, 0 =
// unset) into memory.swap.max (swap alone), as runc does.
func swapToV2(swap, memory int64) (int64, error) {
	// Unlimited memory with unset swap means unlimited both, like v1.
	if memory == -1 && swap == 0 {
		return -1, nil
	}
	if swap == -1 || swap == 0 {
		return swap, nil
	}
	if memory == 0 || memory == -1 {
		return 0, errors.New("swap limit needs a memory limit")
	}
	if memory < 0 {
		return 0, fmt.Errorf("invalid memory limit %d", memory)
	}
	if swap < memory {
		return 0, fmt.Errorf("memory+swap limit %d is lower than memory limit %d", swap, memory)
	}
	return swap - memory, nil
}

// limitString renders a limit where -1 (or any negative) is "max".
func limitString(v int64) string {
	if v < 0 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

func i64(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

func u64(p *uint64) uint64 {
	if p == nil {
		return 0
	}
	return *p
}

// deviceRule is a normalised spec device cgroup rule.
type deviceRule struct {
	allow        bool
	typ          byte  // 'a', 'b' or 'c'
	major, minor int64 // -1 = any
	access       string
}

// wildcard reports whether the rule matches every device and access.
func (d deviceRule) wildcard() bool {
	return d.typ == 'a' && d.major == -1 && d.minor == -1 && d.access == "rwm"
}

// String is the v1 devices.allow/devices.deny form, e.g. "c 1:3 rwm".
func (d deviceRule) String() string {
	num := func(v int64) string {
		if v < 0 {
			return "*"
		}
		return strconv.FormatInt(v, 10)
	}
	return fmt.Sprintf("%c %s:%s %s", d.typ, num(d.major), num(d.minor), d.access)
}

func normaliseDeviceRule(r specs.LinuxDeviceCgroup) (deviceRule, error) {
	d := deviceRule{allow: r.Allow, major: -1, minor: -1}
	switch r.Type {
	case "", "a":
		d.typ = 'a'
	case "b", "c":
		d.typ = r.Type[0]
	default:
		return d, fmt.Errorf("device rule: invalid type %q", r.Type)
	}
	if r.Major != nil {
		d.major = *r.Major
	}
	if r.Minor != nil {
		d.minor = *r.Minor
	}
	if d.major < -1 || d.minor < -1 || d.major > 1<<31-1 || d.minor > 1<<31-1 {
		return d, fmt.Errorf("device rule: invalid device number %d:%d", d.major, d.minor)
	}
	access := r.Access
	if access == "" {
		access = "rwm"
	}
	var b strings.Builder
	for _, c := range "rwm" {
		if strings.ContainsRune(access, c) {
			b.WriteRune(c)
		}
	}
	if strings.Trim(access, "rwm") != "" || b.Len() == 0 {
		return d, fmt.Errorf("device rule: invalid access %q", r.Access)
	}
	d.access = b.String()
	return d, nil
}

func normaliseDeviceRules(rules []specs.LinuxDeviceCgroup) ([]deviceRule, error) {
	out := make([]deviceRule, 0, len(rules))
	for _, r := range rules {
		d, err := normaliseDeviceRule(r)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}
