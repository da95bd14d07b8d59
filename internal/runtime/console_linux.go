package runtime

import (
	"fmt"
	"os"
	"strconv"

	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// setupConsole creates a pty inside the container, sends its master to the
// console socket, and makes the slave the process's stdio and controlling
// terminal. For init, the slave is also bound onto /dev/console.
func setupConsole(sock *os.File, p *specs.Process, rootfs string, mountConsole bool) error {
	ptmx := "/dev/ptmx"
	if rootfs != "" {
		var err error
		if ptmx, err = securejoin.SecureJoin(rootfs, "/dev/pts/ptmx"); err != nil {
			return err
		}
	}
	master, err := unix.Open(ptmx, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", ptmx, err)
	}
	defer unix.Close(master)
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		return fmt.Errorf("unlock pty: %w", err)
	}
	n, err := unix.IoctlGetInt(master, unix.TIOCGPTN)
	if err != nil {
		return fmt.Errorf("get pty number: %w", err)
	}
	slavePath := "/dev/pts/" + strconv.Itoa(n)
	// Open the slave through the master (TIOCGPTPEER): no path lookup.
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(master), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	slave := int(r)
	if errno != 0 {
		sp := slavePath
		if rootfs != "" {
			if sp, err = securejoin.SecureJoin(rootfs, slavePath); err != nil {
				return err
			}
		}
		if slave, err = unix.Open(sp, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0); err != nil {
			return fmt.Errorf("open pty slave: %w", err)
		}
	}
	defer unix.Close(slave)
	if p.ConsoleSize != nil {
		ws := &unix.Winsize{Row: uint16(p.ConsoleSize.Height), Col: uint16(p.ConsoleSize.Width)}
		_ = unix.IoctlSetWinsize(slave, unix.TIOCSWINSZ, ws)
	}
	if err := unix.Sendmsg(int(sock.Fd()), []byte(slavePath), unix.UnixRights(master), nil, 0); err != nil {
		return fmt.Errorf("send pty master to console socket: %w", err)
	}
	if mountConsole && rootfs != "" {
		console, err := securejoin.SecureJoin(rootfs, "/dev/console")
		if err != nil {
			return err
		}
		if f, err := os.OpenFile(console, os.O_CREATE|os.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600); err == nil {
			f.Close()
		}
		if err := unix.Mount("/proc/self/fd/"+strconv.Itoa(slave), console, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind pty onto /dev/console: %w", err)
		}
	}
	for i := 0; i < 3; i++ {
		if err := unix.Dup3(slave, i, 0); err != nil {
			return fmt.Errorf("dup pty slave: %w", err)
		}
	}
	if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("set controlling terminal: %w", err)
	}
	return nil
}
