// Command getcwd386 is built for GOARCH=386 by the seccomp tests: it calls
// getcwd(2) through the i386 syscall ABI and prints the errno (0 on success).
package main

import (
	"fmt"
	"syscall"
	"unsafe"
)

func main() {
	buf := make([]byte, 256)
	_, _, errno := syscall.Syscall(syscall.SYS_GETCWD, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0)
	fmt.Printf("getcwd=%d\n", int(errno))
}
