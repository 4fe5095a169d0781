package runner

// macOS's names for the portable mechanisms: the pty, and close-on-exec
// pipes and sockets without pipe2 or SOCK_CLOEXEC.

import (
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ptyMaster opens a pty master and returns it with the slave's name: what
// libc's posix_openpt, grantpt, unlockpt and ptsname do.
func ptyMaster() (fd int, slave string, err error) {
	fd, err = unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", &os.PathError{Op: "open", Path: "/dev/ptmx", Err: err}
	}
	if err = unix.IoctlSetInt(fd, unix.TIOCPTYGRANT, 0); err == nil {
		if err = unix.IoctlSetInt(fd, unix.TIOCPTYUNLK, 0); err == nil {
			var name [128]byte // the size TIOCPTYGNAME encodes
			_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(unix.TIOCPTYGNAME), uintptr(unsafe.Pointer(&name[0])))
			if errno == 0 {
				return fd, unix.ByteSliceToString(name[:]), nil
			}
			err = errno
		}
	}
	unix.Close(fd)
	return -1, "", err
}

// pipeCloexec and socketCloexec hold syscall.ForkLock between creating the
// descriptors and marking them, as the os and net packages do here, so no
// fork in between can leak them.
func pipeCloexec(p []int) error {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	if err := unix.Pipe(p); err != nil {
		return err
	}
	unix.CloseOnExec(p[0])
	unix.CloseOnExec(p[1])
	return nil
}

func socketCloexec(family, typ int) (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fd, err := unix.Socket(family, typ, 0)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	return fd, err
}
