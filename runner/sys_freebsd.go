package runner

// FreeBSD's names for the portable mechanisms: the pty, close-on-exec pipes
// and sockets.

import (
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"
)

// ptyMaster opens a pty master with the posix_openpt system call and returns
// it with the slave's name; grantpt and unlockpt are no-ops on pts(4).
func ptyMaster() (fd int, slave string, err error) {
	r, _, errno := unix.Syscall(unix.SYS_POSIX_OPENPT, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0, 0)
	if errno != 0 {
		return -1, "", fmt.Errorf("posix_openpt: %w", errno)
	}
	fd = int(r)
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		unix.Close(fd)
		return -1, "", err
	}
	return fd, "/dev/pts/" + strconv.Itoa(n), nil
}

func pipeCloexec(p []int) error { return unix.Pipe2(p, unix.O_CLOEXEC) }

func socketCloexec(family, typ int) (int, error) {
	return unix.Socket(family, typ|unix.SOCK_CLOEXEC, 0)
}
