package seccomp

import (
	"errors"
	"fmt"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// flagTSync is the runtime-spec name of SECCOMP_FILTER_FLAG_TSYNC, which
// specs-go does not define as a constant.
const flagTSync specs.LinuxSeccompFlag = "SECCOMP_FILTER_FLAG_TSYNC"

// knownFlags maps the runtime-spec flag names to seccomp(2) filter flags.
var knownFlags = []struct {
	name specs.LinuxSeccompFlag
	bit  uintptr
}{
	{flagTSync, unix.SECCOMP_FILTER_FLAG_TSYNC},
	{specs.LinuxSeccompFlagLog, unix.SECCOMP_FILTER_FLAG_LOG},
	{specs.LinuxSeccompFlagSpecAllow, unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW},
	{specs.LinuxSeccompFlagWaitKillableRecv, unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV},
}

func flagBits(flags []specs.LinuxSeccompFlag) (uintptr, error) {
	var bits uintptr
next:
	for _, f := range flags {
		for _, k := range knownFlags {
			if k.name == f {
				bits |= k.bit
				continue next
			}
		}
		return 0, fmt.Errorf("seccomp: unknown flag %q", f)
	}
	return bits, nil
}

// Load compiles s and installs the filter on the calling OS thread (the
// caller has locked it with runtime.LockOSThread), or on all threads when
// s.Flags has SECCOMP_FILTER_FLAG_TSYNC. It does not set no_new_privs (see
// LoadFilter): without it the caller needs CAP_SYS_ADMIN. It returns the
// notification listener's fd when any action is SCMP_ACT_NOTIFY, else -1.
func Load(s *specs.LinuxSeccomp) (notifyFd int, err error) {
	return LoadFilter(s, false)
}

// Filter is a compiled profile with the seccomp(2) flags to install it with.
type Filter struct {
	Prog   []unix.SockFilter
	Flags  uintptr
	Notify bool // some action is SCMP_ACT_NOTIFY: installing returns a listener fd
}

// Prepare compiles s and works out the flags to install it with.
func Prepare(s *specs.LinuxSeccomp) (*Filter, error) {
	p, err := resolve(s)
	if err != nil {
		return nil, err
	}
	prog, err := p.generate()
	if err != nil {
		return nil, err
	}
	flags, err := flagBits(s.Flags)
	if err != nil {
		return nil, err
	}
	if p.notify {
		flags |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
		if flags&unix.SECCOMP_FILTER_FLAG_TSYNC != 0 {
			// TSYNC reports a thread it could not sync through the return
			// value, which NEW_LISTENER needs for the fd; TSYNC_ESRCH moves
			// that failure to ESRCH.
			flags |= unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH
		}
	} else {
		// Killable waits only concern a listener; the kernel refuses the flag without one.
		flags &^= unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
	}
	return &Filter{Prog: prog, Flags: flags, Notify: p.notify}, nil
}

// Bytes is the program as an array of struct sock_filter.
func (f *Filter) Bytes() []byte {
	if len(f.Prog) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&f.Prog[0])), len(f.Prog)*int(unsafe.Sizeof(f.Prog[0])))
}

// LoadFilter is Load that first sets PR_SET_NO_NEW_PRIVS when noNewPrivs is true.
func LoadFilter(s *specs.LinuxSeccomp, noNewPrivs bool) (notifyFd int, err error) {
	f, err := Prepare(s)
	if err != nil {
		return -1, err
	}
	if noNewPrivs {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return -1, fmt.Errorf("seccomp: set no_new_privs: %w", err)
		}
	}
	fd, err := install(f.Prog, f.Flags)
	if err != nil {
		return -1, err
	}
	if !f.Notify {
		return -1, nil
	}
	return fd, nil
}

func install(prog []unix.SockFilter, flags uintptr) (int, error) {
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&fprog)))
	if errno != 0 {
		err := fmt.Errorf("seccomp: install filter (flags %#x): %w", flags, errno)
		switch {
		case errors.Is(errno, unix.EACCES):
			err = fmt.Errorf("%w (needs CAP_SYS_ADMIN or no_new_privs)", err)
		case errors.Is(errno, unix.EINVAL) && flags != 0:
			err = fmt.Errorf("%w (a flag may be unsupported by this kernel)", err)
		}
		return -1, err
	}
	if flags&unix.SECCOMP_FILTER_FLAG_TSYNC != 0 && flags&unix.SECCOMP_FILTER_FLAG_NEW_LISTENER == 0 && r != 0 {
		return -1, fmt.Errorf("seccomp: TSYNC could not synchronize thread %d", r)
	}
	return int(r), nil
}
