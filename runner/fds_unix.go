//go:build unix && (!linux || portable)

package runner

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// devFD lists this process's open descriptors (fdescfs on macOS and
// FreeBSD; on Linux a link to /proc/self/fd); a variable for tests.
var devFD = "/dev/fd"

// cloexecFrom marks every descriptor >= from close-on-exec: a worker must not
// inherit what the runner was given by its own parent (a shell, a daemon)
// without the flag. It runs once at start (New), as everything the runner
// opens itself is close-on-exec already. FreeBSD 13.1 and later do it in one
// close_range(CLOSE_RANGE_CLOEXEC) call; macOS has no close_range and
// earlier FreeBSD return ENOSYS or EINVAL: their descriptors are listed from
// /dev/fd. Listing it opens one more descriptor, which is in the list and
// is marked too: harmless, it is closed right after. A list that lacks that
// descriptor is not the whole table (FreeBSD shows only 0-2 without
// fdescfs mounted): then every number up to the descriptor limit is marked,
// one fcntl each (Go raises the soft limit to the hard one: at FreeBSD's
// usual limits, 0.1-0.5 s of CPU).
func cloexecFrom(from int) {
	if cloexecListed(from) {
		return
	}
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) != nil {
		return
	}
	for fd := from; uint64(fd) < min(uint64(lim.Cur), 1<<20); fd++ {
		unix.CloseOnExec(fd)
	}
}

// cloexecRecheck is the exec shim's second look, just before the worker's
// exec: the runner marked its table at start, so this takes only the cheap
// ways (close_range, /dev/fd), never the walk up to the descriptor limit,
// which would cost every worker start what the runner paid once.
func cloexecRecheck(from int) { cloexecListed(from) }

// cloexecListed marks every descriptor >= from close-on-exec by
// close_range or a complete /dev/fd, and reports whether it could.
func cloexecListed(from int) bool {
	if closeRangeCloexec(from) == nil {
		return true
	}
	d, err := os.Open(devFD)
	if err != nil {
		return false
	}
	self := int(d.Fd())
	names, _ := d.Readdirnames(-1)
	d.Close()
	complete := false
	var fds []int
	for _, n := range names {
		if fd, err := strconv.Atoi(n); err == nil {
			complete = complete || fd == self
			if fd >= from {
				fds = append(fds, fd)
			}
		}
	}
	if !complete {
		return false
	}
	for _, fd := range fds {
		unix.CloseOnExec(fd)
	}
	return true
}
