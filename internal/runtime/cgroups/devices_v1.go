package cgroups

import (
	"sort"
	"strings"
)

// devicesV1State is what the v1 devices controller keeps: a default
// (allow or deny everything) and exceptions to it, keyed by
// "type major:minor" with their access bits. devicesV1Target computes it
// for a rule list the way the kernel would after "deny a" plus the rules,
// so an update that changes nothing can skip rewriting the controller
// (which briefly denies every device and fails once the cgroup has
// children).
type devicesV1State struct {
	defaultAllow bool
	exceptions   map[string]string // "c 1:3" -> "rw"
}

func devicesV1Target(rules []deviceRule) devicesV1State {
	st := devicesV1State{exceptions: map[string]string{}}
	for _, r := range rules {
		if r.typ == 'a' {
			// The kernel reads "a" as "everything", whatever follows.
			st = devicesV1State{defaultAllow: r.allow, exceptions: map[string]string{}}
			continue
		}
		key := r.String()
		key = key[:strings.LastIndexByte(key, ' ')]
		// A rule in the default's direction removes access bits from an
		// exception; the other direction adds them.
		if r.allow == st.defaultAllow {
			left := removeAccess(st.exceptions[key], r.access)
			if left == "" {
				delete(st.exceptions, key)
			} else {
				st.exceptions[key] = left
			}
		} else {
			st.exceptions[key] = addAccess(st.exceptions[key], r.access)
		}
	}
	return st
}

func addAccess(a, b string) string {
	var out strings.Builder
	for _, c := range "rwm" {
		if strings.ContainsRune(a, c) || strings.ContainsRune(b, c) {
			out.WriteRune(c)
		}
	}
	return out.String()
}

func removeAccess(a, b string) string {
	var out strings.Builder
	for _, c := range "rwm" {
		if strings.ContainsRune(a, c) && !strings.ContainsRune(b, c) {
			out.WriteRune(c)
		}
	}
	return out.String()
}

// list is what devices.list shows for the state, sorted: the allowed
// exceptions of a default-deny cgroup, or "a *:* rwm" when the default is
// allow (the kernel then hides the deny exceptions).
func (st devicesV1State) list() []string {
	if st.defaultAllow {
		return []string{"a *:* rwm"}
	}
	out := make([]string, 0, len(st.exceptions))
	for k, acc := range st.exceptions {
		out = append(out, k+" "+acc)
	}
	sort.Strings(out)
	return out
}

// devicesV1Current parses devices.list into its sorted lines.
func devicesV1Current(list string) []string {
	var out []string
	for _, l := range strings.Split(list, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}

// devicesV1Unchanged reports whether writing rules would leave the
// controller as devices.list shows it now. With a default-allow target
// the deny exceptions are invisible, so only an exception-free target
// can be known to be unchanged.
func devicesV1Unchanged(current string, rules []deviceRule) bool {
	st := devicesV1Target(rules)
	if st.defaultAllow && len(st.exceptions) > 0 {
		return false
	}
	return strings.Join(st.list(), "\n") == strings.Join(devicesV1Current(current), "\n")
}
