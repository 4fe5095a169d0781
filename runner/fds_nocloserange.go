//go:build darwin || (linux && portable)

package runner

import "golang.org/x/sys/unix"

// closeRangeCloexec: macOS has no close_range, so cloexecFrom lists
// /dev/fd. The portable Linux build does the same, to test that walk
// (Linux's close_range is fds_linux.go's).
func closeRangeCloexec(int) error { return unix.ENOSYS }
