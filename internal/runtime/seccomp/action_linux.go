package seccomp

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// allActions is every action of the runtime-spec, in the order Actions lists them.
var allActions = []specs.LinuxSeccompAction{
	specs.ActKill, specs.ActKillProcess, specs.ActKillThread, specs.ActTrap, specs.ActErrno,
	specs.ActTrace, specs.ActAllow, specs.ActLog, specs.ActNotify,
}

// retValue turns an action and its errnoRet into the filter's return value.
// ERRNO and TRACE take errnoRet as their 16-bit data, EPERM when it is nil,
// as with runc; other actions take none.
func retValue(act specs.LinuxSeccompAction, errnoRet *uint) (uint32, error) {
	data := uint32(unix.EPERM)
	if errnoRet != nil {
		if act != specs.ActErrno && act != specs.ActTrace {
			return 0, fmt.Errorf("errnoRet is only valid with %s and %s, not %q", specs.ActErrno, specs.ActTrace, act)
		}
		if *errnoRet > unix.SECCOMP_RET_DATA {
			return 0, fmt.Errorf("errnoRet %d of %s does not fit in 16 bits", *errnoRet, act)
		}
		data = uint32(*errnoRet)
	}
	switch act {
	case specs.ActKill, specs.ActKillThread:
		return unix.SECCOMP_RET_KILL_THREAD, nil
	case specs.ActKillProcess:
		return unix.SECCOMP_RET_KILL_PROCESS, nil
	case specs.ActTrap:
		return unix.SECCOMP_RET_TRAP, nil
	case specs.ActErrno:
		return unix.SECCOMP_RET_ERRNO | data, nil
	case specs.ActTrace:
		return unix.SECCOMP_RET_TRACE | data, nil
	case specs.ActAllow:
		return unix.SECCOMP_RET_ALLOW, nil
	case specs.ActLog:
		return unix.SECCOMP_RET_LOG, nil
	case specs.ActNotify:
		return unix.SECCOMP_RET_USER_NOTIF, nil
	}
	return 0, fmt.Errorf("unknown seccomp action %q", act)
}

// retPasses reports whether a return value lets the syscall run.
func retPasses(ret uint32) bool {
	return ret == unix.SECCOMP_RET_ALLOW || ret == unix.SECCOMP_RET_LOG
}

// retENOSYS is returned for syscall numbers the tables do not know.
const retENOSYS = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
