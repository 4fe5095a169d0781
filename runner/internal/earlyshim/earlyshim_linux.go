//go:build linux && !portable

package earlyshim

import (
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

func init() {
	if len(os.Args) < 8 || os.Args[1] != Command {
		return
	}
	Exec(os.Args[2:])
}

// Exec is runner.Shim's fast path: args are CTTY LISTENPID KEEP RUNNERPID
// PATH ARGV... (RUNNERPID matters where there is no Pdeathsig: see Shim).
// It returns (having changed nothing that matters to runner.Shim) when it
// cannot finish; on success the process is the worker.
func Exec(args []string) {
	ctty, err1 := strconv.Atoi(args[0])
	keep, err2 := strconv.Atoi(args[2])
	if err1 != nil || err2 != nil || keep < 0 {
		return
	}
	// First, as it is the step that may be missing (Linux < 5.11): the
	// worker gets 0-2 and its sockets, nothing else.
	if unix.CloseRange(uint(keep), ^uint(0), unix.CLOSE_RANGE_CLOEXEC) != nil {
		return
	}
	if ctty >= 0 {
		// Our session has no controlling terminal yet (setsid): take the pty.
		unix.IoctlSetInt(ctty, unix.TIOCSCTTY, 0)
		if ctty > 2 { // never one of the worker's stdio (tty = true passes it at 0)
			unix.Close(ctty)
		}
	}
	if args[1] == "1" {
		os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
	}
	if syscall.Exec(args[4], args[5:], os.Environ()) == syscall.ENOEXEC && Script(args[4]) {
		syscall.Exec(Sh, ShArgv(args[4], args[5:]), os.Environ())
	}
	// runner.Shim retries the exec and reports its error (its TIOCSCTTY and
	// close of the terminal, done here already, fail harmlessly).
}
