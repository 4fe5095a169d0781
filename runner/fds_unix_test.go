//go:build unix && (!linux || portable)

package runner

import (
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Where /dev/fd does not list the whole table (FreeBSD without fdescfs)
// and there is no close_range, cloexecFrom marks every number up to the
// descriptor limit, once, at start; the exec shim's second look at every
// worker start does not repeat that walk.
func TestCloexecWithoutDevFD(t *testing.T) {
	if closeRangeCloexec(1<<30) == nil {
		t.Skip("close_range(CLOSE_RANGE_CLOEXEC) works here: no walk")
	}
	fd, err := syscall.Open("/dev/null", syscall.O_RDONLY, 0) // no O_CLOEXEC, as a parent shell would leave it
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	old := devFD
	devFD = t.TempDir() // lists nothing: not the whole table
	defer func() { devFD = old }()
	cloexec := func() bool {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil {
			t.Fatal(err)
		}
		return flags&unix.FD_CLOEXEC != 0
	}
	cloexecRecheck(fd)
	if cloexec() {
		t.Fatal("the shim's recheck walked up to the descriptor limit")
	}
	cloexecFrom(fd)
	if !cloexec() {
		t.Fatal("cloexecFrom left an inherited descriptor without close-on-exec")
	}
}
