//go:build unix && (!linux || portable)

package runner

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// cloexecFrom marks every descriptor >= from close-on-exec: a worker must not
// inherit what the runner was given by its own parent (a shell, a daemon)
// without the flag. Without close_range(CLOSE_RANGE_CLOEXEC) the open
// descriptors are listed from /dev/fd (fdescfs on macOS; on Linux a link to
// /proc/self/fd). Listing it opens one more descriptor, which is in the list
// and is marked too: harmless, it is closed right after. A list that lacks
// that descriptor is not the whole table (FreeBSD shows only 0-2 without
// fdescfs mounted): then every number up to the descriptor limit is marked,
// one fcntl each.
func cloexecFrom(from int) {
	if d, err := os.Open("/dev/fd"); err == nil {
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
		if complete {
			for _, fd := range fds {
				unix.CloseOnExec(fd)
			}
			return
		}
	}
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) != nil {
		return
	}
	for fd := from; uint64(fd) < min(uint64(lim.Cur), 1<<20); fd++ {
		unix.CloseOnExec(fd)
	}
}
