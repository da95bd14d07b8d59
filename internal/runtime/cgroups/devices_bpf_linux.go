package cgroups

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// bpf(2) attribute layouts (prefixes of union bpf_attr; the kernel treats
// the missing tail as zero).
type bpfProgLoadAttr struct {
	progType           uint32
	insnCnt            uint32
	insns              uint64
	license            uint64
	logLevel           uint32
	logSize            uint32
	logBuf             uint64
	kernVersion        uint32
	progFlags          uint32
	progName           [16]byte
	progIfindex        uint32
	expectedAttachType uint32
}

type bpfProgAttachAttr struct {
	targetFd     uint32
	attachBpfFd  uint32
	attachType   uint32
	attachFlags  uint32
	replaceBpfFd uint32
}

type bpfProgQueryAttr struct {
	targetFd    uint32
	attachType  uint32
	queryFlags  uint32
	attachFlags uint32
	progIDs     uint64
	progCnt     uint32
	_           uint32
}

type bpfGetFdByIDAttr struct {
	id        uint32
	nextID    uint32
	openFlags uint32
}

func bpfCall(cmd int, attr unsafe.Pointer, size uintptr) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}

// loadDeviceProgram loads prog with BPF_PROG_LOAD and returns its fd.
// When the verifier rejects it, the error carries the verifier log.
func loadDeviceProgram(prog []bpfInsn) (int, error) {
	code := encodeProgram(prog)
	license := []byte("Apache-2.0\x00")
	attr := bpfProgLoadAttr{
		progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		insnCnt:  uint32(len(prog)),
		insns:    uint64(uintptr(unsafe.Pointer(&code[0]))),
		license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
	}
	copy(attr.progName[:], "berth_devices")
	fd, err := bpfCall(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err == nil {
		runtime.KeepAlive(code)
		runtime.KeepAlive(license)
		return fd, nil
	}
	// Load again with the verifier log on to say why.
	log := make([]byte, 64*1024)
	attr.logLevel = 1
	attr.logSize = uint32(len(log))
	attr.logBuf = uint64(uintptr(unsafe.Pointer(&log[0])))
	fd, err2 := bpfCall(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(code)
	runtime.KeepAlive(license)
	runtime.KeepAlive(log)
	if err2 == nil {
		return fd, nil
	}
	msg := strings.TrimRight(string(log[:clen(log)]), "\n")
	return -1, fmt.Errorf("load cgroup device program: %w: verifier: %s", err, msg)
}

func clen(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return len(b)
}

// queryDevicePrograms lists the ids of the device programs attached
// directly to the cgroup dirFd.
func queryDevicePrograms(dirFd int) ([]uint32, error) {
	ids := make([]uint32, 64)
	for {
		attr := bpfProgQueryAttr{
			targetFd:   uint32(dirFd),
			attachType: unix.BPF_CGROUP_DEVICE,
			progIDs:    uint64(uintptr(unsafe.Pointer(&ids[0]))),
			progCnt:    uint32(len(ids)),
		}
		_, err := bpfCall(unix.BPF_PROG_QUERY, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
		runtime.KeepAlive(ids)
		if errors.Is(err, unix.ENOSPC) && len(ids) < 1<<16 {
			ids = make([]uint32, len(ids)*4)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("query cgroup device programs: %w", err)
		}
		return ids[:attr.progCnt], nil
	}
}

// attachDeviceFilter loads prog and attaches it to the
// cgroup2 directory dir with BPF_F_ALLOW_MULTI, then detaches the device
// programs that were attached there before, so an update replaces the
// rules without a window where no program is attached.
func attachDeviceFilter(dir string, prog []bpfInsn) error {
	progFd, err := loadDeviceProgram(prog)
	if err != nil {
		return err
	}
	defer unix.Close(progFd)
	dirFd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open cgroup %s: %w", dir, err)
	}
	defer unix.Close(dirFd)
	old, err := queryDevicePrograms(dirFd)
	if err != nil {
		return err
	}
	attach := bpfProgAttachAttr{
		targetFd:    uint32(dirFd),
		attachBpfFd: uint32(progFd),
		attachType:  unix.BPF_CGROUP_DEVICE,
		attachFlags: unix.BPF_F_ALLOW_MULTI,
	}
	if _, err := bpfCall(unix.BPF_PROG_ATTACH, unsafe.Pointer(&attach), unsafe.Sizeof(attach)); err != nil {
		return fmt.Errorf("attach device program to %s: %w", dir, err)
	}
	for _, id := range old {
		if err := detachProgram(dirFd, id); err != nil {
			return fmt.Errorf("replace device program of %s: %w", dir, err)
		}
	}
	return nil
}

func detachProgram(dirFd int, id uint32) error {
	get := bpfGetFdByIDAttr{id: id}
	fd, err := bpfCall(unix.BPF_PROG_GET_FD_BY_ID, unsafe.Pointer(&get), unsafe.Sizeof(get))
	if errors.Is(err, unix.ENOENT) {
		return nil // already gone
	}
	if err != nil {
		return fmt.Errorf("get program %d: %w", id, err)
	}
	defer unix.Close(fd)
	detach := bpfProgAttachAttr{
		targetFd:    uint32(dirFd),
		attachBpfFd: uint32(fd),
		attachType:  unix.BPF_CGROUP_DEVICE,
	}
	if _, err := bpfCall(unix.BPF_PROG_DETACH, unsafe.Pointer(&detach), unsafe.Sizeof(detach)); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("detach program %d: %w", id, err)
	}
	return nil
}
