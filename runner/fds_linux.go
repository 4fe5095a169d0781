//go:build linux && !portable

package runner

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// cloexecFrom marks every descriptor >= min close-on-exec: a worker must not
// inherit what the runner was given by its own parent (a shell, a daemon)
// without the flag. It runs once at start (New). close_range(2) does it in
// one call (Linux 5.11); older kernels get a walk over /proc/self/fd.
// fds_unix.go is the portable walk.
func cloexecFrom(min int) {
	if unix.CloseRange(uint(min), ^uint(0), unix.CLOSE_RANGE_CLOEXEC) == nil {
		return
	}
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	for _, n := range names {
		if fd, err := strconv.Atoi(n); err == nil && fd >= min {
			unix.CloseOnExec(fd)
		}
	}
}

// cloexecRecheck is the exec shim's second look, just before the worker's
// exec: on Linux the same cheap call.
func cloexecRecheck(min int) { cloexecFrom(min) }
