//go:build darwin || freebsd

package runner

// What macOS and FreeBSD spell alike: termios requests and peer credentials.

import "golang.org/x/sys/unix"

const (
	ioctlGetTermios = unix.TIOCGETA
	ioctlSetTermios = unix.TIOCSETA
	ioctlInq        = 0x4004667f // FIONREAD, _IOR('f', 127, int): x/sys/unix does not name it here
)

// peerUID is the effective uid of a unix socket's peer: LOCAL_PEERCRED,
// which getpeereid(3) reads.
func peerUID(fd int) (int, error) {
	cred, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	if err != nil {
		return -1, err
	}
	return int(cred.Uid), nil
}
