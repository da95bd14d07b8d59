package runtime

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/runtime/kfile"
)

// capNames maps capability names to numbers (linux/capability.h).
var capNames = map[string]int{
	"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3, "CAP_FSETID": 4,
	"CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_LINUX_IMMUTABLE": 9,
	"CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13,
	"CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15, "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17,
	"CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19, "CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21,
	"CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23, "CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25,
	"CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27, "CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29,
	"CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31, "CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33,
	"CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35, "CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37,
	"CAP_PERFMON": 38, "CAP_BPF": 39, "CAP_CHECKPOINT_RESTORE": 40,
}

// KnownCapabilities lists the capabilities this kernel has, by name.
func KnownCapabilities() []string {
	last := lastCap()
	out := make([]string, last+1)
	for name, n := range capNames {
		if n <= last {
			out[n] = name
		}
	}
	return out
}

var lastCap = sync.OnceValue(func() int {
	b, err := kfile.Read("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 40
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 40
	}
	return n
})

type capSet [2]uint32

func (s *capSet) set(n int) { s[n/32] |= 1 << (uint(n) % 32) }

func (s capSet) has(n int) bool { return s[n/32]&(1<<(uint(n)%32)) != 0 }

// mask is the set as a 64-bit mask (bit n: capability n).
func (s capSet) mask() uint64 { return uint64(s[0]) | uint64(s[1])<<32 }

// parseCaps turns names into a set. Names the kernel does not know are
// skipped (as runc does, so a newer spec works on an older kernel); unknown
// names are an error.
func parseCaps(names []string, last int) (capSet, error) {
	var s capSet
	for _, name := range names {
		n, ok := capNames[strings.ToUpper(name)]
		if !ok {
			return s, fmt.Errorf("unknown capability %q", name)
		}
		if n > last {
			continue
		}
		s.set(n)
	}
	return s, nil
}

type capsConfig struct {
	bounding, effective, permitted, inheritable, ambient capSet
}

func loadCaps(c *specs.LinuxCapabilities) (*capsConfig, error) {
	if c == nil {
		c = &specs.LinuxCapabilities{}
	}
	last := lastCap()
	var cc capsConfig
	var err error
	for _, x := range []struct {
		dst   *capSet
		names []string
	}{{&cc.bounding, c.Bounding}, {&cc.effective, c.Effective}, {&cc.permitted, c.Permitted},
		{&cc.inheritable, c.Inheritable}, {&cc.ambient, c.Ambient}} {
		if *x.dst, err = parseCaps(x.names, last); err != nil {
			return nil, err
		}
	}
	return &cc, nil
}

// dropBounding removes every capability not in the bounding set. It needs
// CAP_SETPCAP, so it runs before the user switch.
func (cc *capsConfig) dropBounding() error {
	for n := 0; n <= lastCap(); n++ {
		if !cc.bounding.has(n) {
			if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(n), 0, 0, 0); err != nil && err != unix.EINVAL {
				return fmt.Errorf("drop capability %d from bounding set: %w", n, err)
			}
		}
	}
	return nil
}

// apply sets the effective, permitted and inheritable sets of the calling
// thread, then the ambient set.
func (cc *capsConfig) apply() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: cc.effective[0], Permitted: cc.permitted[0], Inheritable: cc.inheritable[0]},
		{Effective: cc.effective[1], Permitted: cc.permitted[1], Inheritable: cc.inheritable[1]},
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	for n := 0; n <= lastCap(); n++ {
		if cc.ambient.has(n) {
			// Ambient needs the capability in permitted and inheritable;
			// the kernel refuses otherwise and runc ignores that.
			_ = unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(n), 0, 0)
		}
	}
	return nil
}
