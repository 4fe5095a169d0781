package runner

import "golang.org/x/sys/unix"

// closeRangeCloexec marks every descriptor >= from close-on-exec in one
// call: close_range(2) with CLOSE_RANGE_CLOEXEC, FreeBSD 13.1 and later
// (sys/unistd.h; x/sys/unix names the call, not the flag). Earlier kernels
// return EINVAL (close_range without the flag, 12.2-13.0) or ENOSYS (the
// runtime ignores the SIGSYS that comes with it); cloexecFrom then lists
// /dev/fd.
func closeRangeCloexec(from int) error {
	const closeRangeCloexec = 1 << 2 // CLOSE_RANGE_CLOEXEC
	_, _, errno := unix.Syscall(unix.SYS_CLOSE_RANGE, uintptr(from), uintptr(^uint32(0)), closeRangeCloexec)
	if errno != 0 {
		return errno
	}
	return nil
}
