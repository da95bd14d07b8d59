// Package nsexec joins namespaces that a multi-threaded Go process cannot
// join (user, mount and time namespaces need a single-threaded caller). Its C
// constructor runs before the Go runtime starts, and only when the runtime
// asked for it through the environment; for every other invocation of the
// binary it costs one getenv.
//
// This is the only cgo in berth.
package nsexec

// #cgo CFLAGS: -Wall -O2
// extern void berth_nsexec(void);
// void __attribute__((constructor)) berth_nsexec_init(void) { berth_nsexec(); }
import "C"

// EnvVar names the variable the constructor reads: a ';'-separated list of
// "kind=path" entries (kind: user, mnt, time, ipc, uts, net, pid, cgroup)
// joined in the order given, optionally followed by "unshare=<hex flags>".
// Errors are written as a JSON sync message to the fd named by SyncEnvVar.
const (
	EnvVar     = "_BERTH_NSENTER"
	SyncEnvVar = "_BERTH_SYNCFD"
)
