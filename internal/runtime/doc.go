// Package runtime is berth's OCI runtime as a library: it creates containers
// from runtime-spec bundles (namespaces, rootfs, cgroups, capabilities,
// seccomp, hooks), and starts, signals, pauses, execs into and deletes them.
// Package runtime/cli puts runc's command line on top of it.
//
// A container is created by a parent process (the caller of Create) and an
// init child: the child is this binary re-executed through a read-only clone
// of its mount, or a sealed memfd copy (so the container can never write to
// the host binary), entered through the
// InitCommand argument, which sets up the container from inside its
// namespaces and finally execs the user's process. Parent and child talk over
// a socketpair (sync.go).
package runtime
