package runner

// Linux's names for the portable mechanisms: the pty, termios requests,
// peer credentials, close-on-exec pipes and sockets. These are used with
// -tags portable too: they are how Linux spells POSIX, not extras.

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

const (
	ioctlGetTermios = unix.TCGETS
	ioctlSetTermios = unix.TCSETS
	ioctlInq        = unix.TIOCINQ // FIONREAD: bytes waiting to be read
)

// ptyMaster opens a pty master (posix_openpt, grantpt, unlockpt) and
// returns it with the slave's name (ptsname).
func ptyMaster() (fd int, slave string, err error) {
	fd, err = unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", &os.PathError{Op: "open", Path: "/dev/ptmx", Err: err}
	}
	if err = unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err == nil {
		var n uint32
		if n, err = unix.IoctlGetUint32(fd, unix.TIOCGPTN); err == nil {
			return fd, "/dev/pts/" + strconv.Itoa(int(n)), nil
		}
	}
	unix.Close(fd)
	return -1, "", err
}

// peerUID is the uid of a unix socket's peer: SO_PEERCRED (Linux has no
// getpeereid).
func peerUID(fd int) (int, error) {
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return -1, err
	}
	return int(cred.Uid), nil
}

func pipeCloexec(p []int) error { return unix.Pipe2(p, unix.O_CLOEXEC) }

func socketCloexec(family, typ int) (int, error) {
	return unix.Socket(family, typ|unix.SOCK_CLOEXEC, 0)
}
