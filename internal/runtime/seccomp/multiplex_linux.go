package seccomp

import specs "github.com/opencontainers/runtime-spec/specs-go"

// i386 programs may reach the socket and SysV IPC syscalls through the
// socketcall(2) and ipc(2) multiplexers, whose first argument names the call
// (linux/net.h SYS_*, linux/ipc.h). As libseccomp does, a rule for one of
// these syscalls also becomes a rule for the multiplexer with that argument.
// Only unconditional rules carry over: the multiplexed calls pass their own
// arguments in memory, out of a filter's reach.
var i386Multiplexed = map[string]struct {
	via  string
	call uint64
}{
	"socket": {"socketcall", 1}, "bind": {"socketcall", 2}, "connect": {"socketcall", 3},
	"listen": {"socketcall", 4}, "accept": {"socketcall", 5}, "getsockname": {"socketcall", 6},
	"getpeername": {"socketcall", 7}, "socketpair": {"socketcall", 8}, "send": {"socketcall", 9},
	"recv": {"socketcall", 10}, "sendto": {"socketcall", 11}, "recvfrom": {"socketcall", 12},
	"shutdown": {"socketcall", 13}, "setsockopt": {"socketcall", 14}, "getsockopt": {"socketcall", 15},
	"sendmsg": {"socketcall", 16}, "recvmsg": {"socketcall", 17}, "accept4": {"socketcall", 18},
	"recvmmsg": {"socketcall", 19}, "sendmmsg": {"socketcall", 20},
	"semop": {"ipc", 1}, "semget": {"ipc", 2}, "semctl": {"ipc", 3}, "semtimedop": {"ipc", 4},
	"msgsnd": {"ipc", 11}, "msgrcv": {"ipc", 12}, "msgget": {"ipc", 13}, "msgctl": {"ipc", 14},
	"shmat": {"ipc", 21}, "shmdt": {"ipc", 22}, "shmget": {"ipc", 23}, "shmctl": {"ipc", 24},
}

// addMultiplexed adds the multiplexer rule for name on arch a, if there is one.
func (p *program) addMultiplexed(a *archInfo, name string, index int, r rule) {
	if a != archX86 || len(r.conds) > 0 {
		return
	}
	m, ok := i386Multiplexed[name]
	if !ok {
		return
	}
	nr, ok := a.table.lookup(m.via)
	if !ok {
		return
	}
	p.add(a, uint32(nr), index, rule{ret: r.ret, conds: []specs.LinuxSeccompArg{{Index: 0, Value: m.call, Op: specs.OpEqualTo}}})
}
