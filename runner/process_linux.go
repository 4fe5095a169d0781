package runner

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// spawnSpec is everything needed to start one worker process.
type spawnSpec struct {
	self      string   // the cluster binary, re-executed as the exec shim
	path      string   // resolved program
	argv      []string // argv[0] included
	env       []string
	dir       string
	extra     []int // raw fds passed at 3, 4, ... (listening sockets)
	listenPID bool  // the shim sets LISTEN_PID to the worker's pid
	cred      *syscall.Credential
	noPTY     bool // do not give the worker a controlling terminal

	// output returns the writers for the worker's stdout and stderr once its
	// pid is known; both are closed when the stream reaches EOF.
	output func(pid int) (stdout, stderr io.WriteCloser)
}

// proc is one started worker process.
type proc struct {
	pid    int
	done   <-chan exitStatus
	master int // pty master, -1 when none
	copied sync.WaitGroup
}

// spawn starts a worker: in the child, Go's fork code calls setsid (a new
// session and process group whose id is the pid), sets Pdeathsig and takes
// the pty slave as controlling terminal. Workers that inherit sockets go
// through the exec shim instead, which takes the terminal, sets LISTEN_PID to
// its own pid and execs the program with that same pid.
func spawn(rp *reaper, s spawnSpec) (*proc, error) {
	devnull, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/null: %w", err)
	}
	defer unix.Close(devnull)

	var out, errp [2]int
	if err := unix.Pipe2(out[:], unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	if err := unix.Pipe2(errp[:], unix.O_CLOEXEC); err != nil {
		unix.Close(out[0])
		unix.Close(out[1])
		return nil, fmt.Errorf("pipe: %w", err)
	}
	closeReadEnds := func() {
		unix.Close(out[0])
		unix.Close(errp[0])
	}

	master, slave := -1, -1
	if !s.noPTY {
		master, slave, _ = openPTY() // best effort: without it, grandchildren may outlive a SIGKILLed runner
	}

	files := []uintptr{uintptr(devnull), uintptr(out[1]), uintptr(errp[1])}
	for _, fd := range s.extra {
		files = append(files, uintptr(fd))
	}
	ctty := -1
	if slave >= 0 {
		ctty = len(files)
		files = append(files, uintptr(slave))
	}
	sys := &syscall.SysProcAttr{
		Setsid:     true,
		Pdeathsig:  syscall.SIGKILL,
		Credential: s.cred,
	}
	argv0, argv := s.path, s.argv
	if s.listenPID {
		// Only the shim can set LISTEN_PID to the pid it will exec with.
		argv0 = s.self
		argv = append([]string{s.self, shimCommand, strconv.Itoa(ctty), "1", s.path}, s.argv...)
	} else if ctty >= 0 {
		// Go's fork code takes the terminal itself (TIOCSCTTY on the child's
		// fd); the program keeps that one fd open, which is harmless.
		sys.Setctty, sys.Ctty = true, ctty
	}
	attr := &syscall.ProcAttr{Dir: s.dir, Env: s.env, Files: files, Sys: sys}
	pid, done, err := rp.start(argv0, argv, attr)
	unix.Close(out[1])
	unix.Close(errp[1])
	if slave >= 0 {
		unix.Close(slave)
	}
	if err != nil {
		closeReadEnds()
		if master >= 0 {
			unix.Close(master)
		}
		return nil, err
	}
	p := &proc{pid: pid, done: done, master: master}
	stdout, stderr := s.output(pid)
	p.copied.Add(2)
	go p.copy(out[0], stdout)
	go p.copy(errp[0], stderr)
	return p, nil
}

func (p *proc) copy(fd int, w io.WriteCloser) {
	defer p.copied.Done()
	unix.SetNonblock(fd, true) // so the runtime poller owns it and no thread blocks per pipe
	f := os.NewFile(uintptr(fd), "worker-output")
	_, err := io.Copy(w, f)
	if err != nil && !errors.Is(err, os.ErrClosed) {
		// The writer failed (the runner's stdout is gone): keep draining so the
		// worker is never blocked on a full pipe.
		io.Copy(io.Discard, f)
	}
	f.Close()
	w.Close()
}

// release closes the pty master once the worker's group is gone. Closing it
// earlier would hang up the session, which is what a SIGKILLed runner does on
// purpose.
func (p *proc) release() {
	if p.master >= 0 {
		unix.Close(p.master)
		p.master = -1
	}
}

// signalGroup sends sig to the worker's process group (its session: the
// group id is the worker's pid).
func signalGroup(pid int, sig syscall.Signal) error {
	return syscall.Kill(-pid, sig)
}

// groupAlive reports whether any process is left in the worker's group.
func groupAlive(pid int) bool {
	return syscall.Kill(-pid, 0) == nil
}

// openPTY returns a pty pair as raw close-on-exec fds.
func openPTY() (master, slave int, err error) {
	master, err = unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, -1, err
	}
	if err = unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err == nil {
		var n uint32
		n, err = unix.IoctlGetUint32(master, unix.TIOCGPTN)
		if err == nil {
			slave, err = unix.Open("/dev/pts/"+strconv.Itoa(int(n)), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
			if err == nil {
				return master, slave, nil
			}
		}
	}
	unix.Close(master)
	return -1, -1, err
}

// shimCommand is the hidden subcommand main dispatches to Shim.
const shimCommand = "__exec"

// ShimCommand is the hidden argv[1] that marks the exec shim; main (and test
// binaries) must call Shim when they see it.
const ShimCommand = shimCommand

// Shim runs inside a freshly forked worker: args are CTTY LISTENPID PATH ARGV...
// It returns only on failure, with the exit status to use.
func Shim(args []string) int {
	if len(args) < 4 {
		fmt.Fprintln(os.Stderr, "cluster: internal exec shim: bad arguments")
		return 127
	}
	if fd, err := strconv.Atoi(args[0]); err == nil && fd >= 0 {
		// Our session has no controlling terminal yet (setsid): take the pty.
		// When the runner dies the master closes, the kernel hangs up the
		// session and SIGHUPs its foreground group: the worker's children too.
		unix.IoctlSetInt(fd, unix.TIOCSCTTY, 0)
		unix.Close(fd)
	}
	if args[1] == "1" {
		os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
	}
	path, argv := args[2], args[3:]
	err := syscall.Exec(path, argv, os.Environ())
	fmt.Fprintf(os.Stderr, "cluster: exec %s: %v\n", path, err)
	if errors.Is(err, syscall.ENOENT) {
		return 127
	}
	return 126
}
