//go:build unix

package runner

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cluster-run/cluster/runner/internal/earlyshim"
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
	noPTY     bool     // do not give the worker a controlling terminal
	ttyStdio  bool     // tty = true: stdin, stdout and stderr are the pty slave (a terminal apps may prompt on)
	pipes     *pipeSet // registers the output pipes' read ends (closed at the hard stop)

	// noTerminal is told why the worker gets no pseudo-terminal (it starts
	// without): then no hang-up stops its session when the runner is
	// SIGKILLed.
	noTerminal func(error)

	// output returns the writers for the worker's stdout and stderr once its
	// pid is known; both are closed when the stream reaches EOF.
	// pending are FIONREAD probes of stdout, stderr and the terminal (nil
	// for a stream that is not read), for Stream.Pending.
	output func(pid int, tty bool, pending [3]func() bool) (stdout, stderr, ttyOut io.WriteCloser)
}

// proc is one started worker process.
type proc struct {
	pid    int
	done   <-chan exitStatus
	copied sync.WaitGroup // stdout and stderr copied to EOF

	tty       *os.File      // pty master, nil when none
	ttySlave  int           // our copy of the slave, -1 when none: keeps the master readable until release
	ttyCopied chan struct{} // closed when what the worker wrote to its terminal is copied
	ttyPolled bool          // the master is in the runtime poller, so Close interrupts a read

	// Set once by spawn, then read-only: the master (also when tty is nil
	// again after release) and the clients attached to it.
	ttyFile *os.File
	clients *ttyClients
}

// spawn starts a worker: in the child, Go's fork code calls setsid (a new
// session and process group whose id is the pid) and, on Linux, sets
// Pdeathsig (subreaper_linux.go). The exec
// shim (this binary again) then takes the pty slave as controlling terminal,
// sets LISTEN_PID to its own pid for socket-activated workers, marks every
// descriptor above the worker's own close-on-exec, and execs the program with
// that same pid.
func spawn(rp *reaper, s spawnSpec) (*proc, error) {
	devnull, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/null: %w", err)
	}
	defer unix.Close(devnull)

	master, slave := -1, -1
	if !s.noPTY || s.ttyStdio {
		var err error
		master, slave, err = openPTY(s.ttyStdio)
		if err != nil && s.ttyStdio {
			return nil, fmt.Errorf("tty = true: %w", err)
		}
		if err != nil && s.noTerminal != nil {
			s.noTerminal(err) // best effort: the worker starts without one
		}
	}
	out, errp := [2]int{-1, -1}, [2]int{-1, -1}
	closeReadEnds := func() {}
	files := []uintptr{uintptr(slave), uintptr(slave), uintptr(slave)}
	if !s.ttyStdio {
		if err := pipeCloexec(out[:]); err != nil {
			closePTY(master, slave)
			return nil, fmt.Errorf("pipe: %w", err)
		}
		if err := pipeCloexec(errp[:]); err != nil {
			unix.Close(out[0])
			unix.Close(out[1])
			closePTY(master, slave)
			return nil, fmt.Errorf("pipe: %w", err)
		}
		closeReadEnds = func() {
			unix.Close(out[0])
			unix.Close(errp[0])
		}
		files = []uintptr{uintptr(devnull), uintptr(out[1]), uintptr(errp[1])}
	}
	for _, fd := range s.extra {
		files = append(files, uintptr(fd))
	}
	keep := len(files)
	ctty := -1
	if slave >= 0 && !s.ttyStdio {
		ctty = len(files)
		files = append(files, uintptr(slave))
	}
	sys := &syscall.SysProcAttr{
		Setsid:     true,
		Credential: s.cred,
	}
	if s.ttyStdio {
		// The terminal is fd 0: Go's fork code can make it the controlling
		// one without leaving an extra descriptor, no shim needed for it.
		sys.Setctty, sys.Ctty = true, 0
	}
	parentDeathSignal(sys)
	argv0, argv := s.path, s.argv
	if ctty >= 0 && !s.listenPID && !Portable {
		// No shim (it costs a Go start-up per worker): Go's fork code takes
		// the terminal, which it can only do on a descriptor the program
		// keeps. Like bash, the worker holds its terminal at fd 255, out of
		// the way of its sockets (3 ...), as one more handle on the /dev/tty
		// it can open anyway. Where there is no Pdeathsig (Portable) the
		// shim also checks that the runner still lives; it stays there.
		files, ctty = ttyAt(files, ctty)
		sys.Setctty, sys.Ctty = true, ctty
	} else if s.listenPID || ctty >= 0 {
		// Only the shim can set LISTEN_PID to the pid it will exec with, and
		// take the terminal without leaving its descriptor to the program.
		listenPID := "0"
		if s.listenPID {
			listenPID = "1"
		}
		argv0 = s.self
		argv = append([]string{s.self, shimCommand, strconv.Itoa(ctty), listenPID, strconv.Itoa(keep), strconv.Itoa(os.Getpid()), s.path}, s.argv...)
	}
	attr := &syscall.ProcAttr{Dir: s.dir, Env: s.env, Files: files, Sys: sys}
	pid, done, err := rp.start(argv0, argv, attr)
	if argv0 == s.path && errors.Is(err, syscall.ENOEXEC) {
		// A script without "#!": sh runs it, as execvp and foreman's sh -c
		// do. A second fork with the same attributes: its own session,
		// terminal and descriptors, as the first would have had (the
		// shim, when it runs, does this in the worker's own process).
		if sh, shArgv, ok := ShellFallback(s.path, s.argv); ok {
			pid, done, err = rp.start(sh, shArgv, attr)
		}
	}
	if !s.ttyStdio {
		unix.Close(out[1])
		unix.Close(errp[1])
	}
	if err != nil {
		closeReadEnds()
		closePTY(master, slave)
		if argv0 == s.self {
			err = shimError{s.self, err}
		} else {
			err = execError(s.path, s.dir, err)
		}
		return nil, err
	}
	p := &proc{pid: pid, done: done, ttySlave: slave}
	var fout, ferr *os.File
	var pending [3]func() bool
	if !s.ttyStdio {
		// Non-blocking, so the runtime poller owns them: no thread blocks
		// per pipe, and Close interrupts a Read.
		unix.SetNonblock(out[0], true)
		unix.SetNonblock(errp[0], true)
		fout, ferr = os.NewFile(uintptr(out[0]), "worker-stdout"), os.NewFile(uintptr(errp[0]), "worker-stderr")
		pending[0], pending[1] = pendingBytes(fout), pendingBytes(ferr)
	}
	if master >= 0 {
		unix.SetNonblock(master, true)
		p.tty = os.NewFile(uintptr(master), "worker-tty")
		p.ttyCopied = make(chan struct{})
		// kqueue refuses some pty masters on macOS (golang/go#22099): out
		// of the poller, a non-blocking read would fail at once, so read
		// it blocking; the copy then ends when the terminal's last holder
		// exits.
		if p.ttyPolled = p.tty.SetReadDeadline(time.Time{}) == nil; !p.ttyPolled {
			unix.SetNonblock(master, false)
		}
		p.ttyFile, p.clients = p.tty, &ttyClients{}
		pending[2] = pendingBytes(p.tty)
	}
	stdout, stderr, tty := s.output(pid, master >= 0, pending)
	if s.ttyStdio {
		// Everything the worker writes comes through its terminal.
		stdout.Close()
		stderr.Close()
	} else {
		p.copied.Add(2)
		go p.copy(s.pipes, fout, stdout)
		go p.copy(s.pipes, ferr, stderr)
	}
	if master >= 0 {
		go p.copyTTY(teeWriter{tty, p.clients})
	}
	return p, nil
}

// ttyFD is where a worker started without the shim holds its terminal.
const ttyFD = 255

// ttyAt moves the terminal, files[i] (the last entry), to ttyFD: the
// entries between are -1, which Go's fork code closes in the child. It stays
// where it is when the sockets already reach ttyFD or the descriptor limit
// is too low (ttyRoom).
func ttyAt(files []uintptr, i int) ([]uintptr, int) {
	var lim unix.Rlimit // Cur is an int64 on FreeBSD
	if i >= ttyFD || unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) != nil || uint64(lim.Cur) < ttyRoom(len(files)) {
		return files, i
	}
	moved := make([]uintptr, ttyFD+1)
	copy(moved, files[:i])
	for j := i; j < ttyFD; j++ {
		moved[j] = ^uintptr(0) // -1: closed in the child
	}
	moved[ttyFD] = files[i]
	return moved, ttyFD
}

// ttyRoom is the descriptor limit the child needs to hold its terminal at
// ttyFD when it gets n descriptors: before it moves each one down into
// place, Go's fork code parks its own error pipe and every entry whose
// number is below its index above the highest index (ttyFD), and the
// terminal is always such an entry.
func ttyRoom(n int) uint64 {
	return uint64(ttyFD + 1 + 1 + n + 1)
}

// pendingBytes reports whether f has bytes waiting to be read (FIONREAD);
// false once f is closed.
func pendingBytes(f *os.File) func() bool {
	return func() bool {
		raw, err := f.SyscallConn()
		if err != nil {
			return false
		}
		n := 0
		raw.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), ioctlInq) })
		return n > 0
	}
}

func (p *proc) copy(pipes *pipeSet, f *os.File, w io.WriteCloser) {
	defer p.copied.Done()
	if pipes == nil || pipes.add(f) {
		err := copyOutput(w, f)
		if err != nil && !errors.Is(err, os.ErrClosed) {
			// The writer failed (the runner's stdout is gone): keep draining so the
			// worker is never blocked on a full pipe.
			io.Copy(io.Discard, f)
		}
		if pipes != nil {
			pipes.remove(f)
		}
		f.Close()
	}
	w.Close()
}

// copyTTY copies what the worker writes to its terminal (/dev/tty) into its
// log, so such writes never block. It ends when release closes our slave
// (the master then reads what is left, then EIO on Linux, EOF on the BSDs)
// or the master.
func (p *proc) copyTTY(w io.WriteCloser) {
	defer close(p.ttyCopied)
	copyOutput(w, p.tty) // EIO or EOF once no slave is open: the normal end
	w.Close()
}

// copyBufs holds the buffers of busy output streams. 16 KiB, not 32: as
// fast (a worker printing 300 MB copies in the same time within noise), and
// when 32 workers print a burst at once, the runner's heap peaks lower; the
// runtime keeps the GC bitmaps of that peak for good, so the smaller peak is
// 0.2 MiB less RSS for the rest of the run (bench/rss.sh).
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// copyOutput copies r to w until EOF (nil) or an error, as io.Copy does, but
// holds a large buffer only while the stream is busy: it waits for output
// with a small buffer, takes a 16 KiB one from copyBufs when a read fills
// the small one, and gives it back once a read returns less (the pipe is
// drained). An idle worker holds 512 bytes per stream, not 16 KiB for life.
func copyOutput(w io.Writer, r io.Reader) error {
	small := make([]byte, 512)
	buf := small
	var big *[]byte
	defer func() {
		if big != nil {
			copyBufs.Put(big)
		}
	}()
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if wn, werr := w.Write(buf[:n]); werr != nil {
				return werr
			} else if wn != n {
				return io.ErrShortWrite
			}
		}
		if err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if n == len(buf) && big == nil {
			big = copyBufs.Get().(*[]byte)
			buf = *big
		} else if n < len(buf) && big != nil {
			copyBufs.Put(big)
			big, buf = nil, small
		}
	}
}

// release closes the terminal once the worker's group is gone. Closing the
// master earlier would hang up the session, which is what a SIGKILLed runner
// does on purpose.
func (p *proc) release() {
	if p.tty == nil {
		return
	}
	unix.Close(p.ttySlave)
	p.ttySlave = -1
	select {
	case <-p.ttyCopied:
	case <-time.After(200 * time.Millisecond): // a process outside the group still holds /dev/tty open
	}
	p.tty.Close()
	if p.ttyPolled {
		<-p.ttyCopied
	}
	p.clients.close()
	p.tty = nil
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

// openPTY returns a pty pair as raw close-on-exec fds: the master from the
// platform's ptmx (ptyMaster, sys_*.go), the slave opened by name. The slave
// is set up so that nobody reading it ever waits: non-canonical with VMIN =
// VTIME = 0, a read returns 0 (EOF) at once, also for programs that copy
// these settings and only turn echo off (ssh, sudo and git prompts do).
// Output processing is off, so what a worker writes reaches the log byte for
// byte.
//
// An interactive one (tty = true: the worker's stdio) is left a normal
// terminal instead — canonical, echoing, signals from ^C, \n written as
// \r\n (the log drops the \r) — sized 80x24 until a client attaches.
func openPTY(interactive bool) (master, slave int, err error) {
	master, name, err := ptyMaster()
	if err != nil {
		return -1, -1, err
	}
	slave, err = unix.Open(name, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		err = &os.PathError{Op: "open", Path: name, Err: err}
	} else {
		setup := noWaitTerminal
		if interactive {
			setup = interactiveTerminal
		}
		if err = setup(slave); err == nil {
			return master, slave, nil
		}
		unix.Close(slave)
	}
	unix.Close(master)
	return -1, -1, err
}

func closePTY(master, slave int) {
	if master >= 0 {
		unix.Close(master)
		unix.Close(slave)
	}
}

func interactiveTerminal(fd int) error {
	t, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
	if err != nil {
		return err
	}
	t.Lflag |= unix.ICANON | unix.ECHO | unix.ISIG
	t.Oflag |= unix.OPOST | unix.ONLCR
	t.Cflag &^= unix.CLOCAL // see noWaitTerminal
	if err := unix.IoctlSetTermios(fd, ioctlSetTermios, t); err != nil {
		return err
	}
	return unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 80})
}

// noWaitTerminal also clears CLOCAL (no pty sets it by default): on the BSDs
// the hang-up that follows a closed master reaches the session only when
// the terminal cares about carrier loss.
func noWaitTerminal(fd int) error {
	t, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
	if err != nil {
		return err
	}
	t.Lflag &^= unix.ICANON | unix.ECHO | unix.ECHONL
	t.Oflag &^= unix.OPOST
	t.Cflag &^= unix.CLOCAL
	t.Cc[unix.VMIN] = 0
	t.Cc[unix.VTIME] = 0
	return unix.IoctlSetTermios(fd, ioctlSetTermios, t)
}

// shimCommand is the hidden subcommand main dispatches to Shim. On Linux
// the earlyshim package's initialiser usually runs it first, before the
// binary's heavier packages are initialised (see earlyshim).
const shimCommand = earlyshim.Command

// ShimCommand is the hidden argv[1] that marks the exec shim; main (and test
// binaries) must call Shim when they see it.
const ShimCommand = shimCommand

// Shim runs inside a freshly forked worker: args are CTTY LISTENPID KEEP
// RUNNERPID PATH ARGV... It returns only on failure, with the exit status
// to use.
func Shim(args []string) int {
	if len(args) < 6 {
		fmt.Fprintln(os.Stderr, "cluster: internal exec shim: bad arguments")
		return 127
	}
	if fd, err := strconv.Atoi(args[0]); err == nil && fd >= 0 {
		// Our session has no controlling terminal yet (setsid): take the pty.
		// When the runner dies the master closes, the kernel hangs up the
		// session and SIGHUPs its foreground group: the worker's children too.
		unix.IoctlSetInt(fd, unix.TIOCSCTTY, 0)
		if fd > 2 {
			unix.Close(fd)
		}
		// A runner that died before we held the terminal hung up nobody:
		// without Pdeathsig (macOS, FreeBSD, -tags portable) the worker
		// would outlive it. Checked after TIOCSCTTY, so a runner dying from
		// here on hangs us up as usual.
		if pid, err := strconv.Atoi(args[3]); err == nil && os.Getppid() != pid {
			return 1
		}
	}
	if args[1] == "1" {
		os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
	}
	if keep, err := strconv.Atoi(args[2]); err == nil {
		// The worker gets 0-2 and its sockets, nothing else: not a descriptor
		// the runner inherited without close-on-exec (nor the Go runtime's).
		// The runner marked those at start; this is a second, cheap look.
		cloexecRecheck(keep)
	}
	path, argv := args[4], args[5:]
	err := syscall.Exec(path, argv, os.Environ())
	if errors.Is(err, syscall.ENOEXEC) {
		if sh, shArgv, ok := ShellFallback(path, argv); ok {
			err = syscall.Exec(sh, shArgv, os.Environ()) // same pid: LISTEN_PID holds
		}
	}
	fmt.Fprintf(os.Stderr, "cluster: %v\n", execError(path, "", err))
	if errors.Is(err, syscall.ENOENT) {
		return 127
	}
	return 126
}

// ShellFallback is how execvp goes on when exec refuses path with ENOEXEC:
// a file that may be a shell script without "#!" runs as /bin/sh PATH
// ARGS..., argv's arguments after it; ok is false for one that is not (a
// binary for another machine), whose error stands.
func ShellFallback(path string, argv []string) (sh string, shArgv []string, ok bool) {
	if !earlyshim.Script(path) {
		return "", nil, false
	}
	return earlyshim.Sh, earlyshim.ShArgv(path, argv), true
}

// terminalSentToUs reports whether this process is in the foreground group
// of its controlling terminal: then a SIGINT or SIGQUIT typed there reached
// every process of the group, a `-- COMMAND` in it included.
func terminalSentToUs() bool {
	f, err := os.Open("/dev/tty")
	if err != nil {
		return false // no controlling terminal
	}
	defer f.Close()
	pg, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCGPGRP)
	return err == nil && pg == unix.Getpgrp()
}

// shimError is a failed exec of the exec shim (the cluster binary itself),
// which starts inherit-mode workers and, on the portable path, terminal
// ones: the program was never reached.
type shimError struct {
	self string
	err  error
}

func (e shimError) Error() string { return e.self + " (the exec shim): " + e.err.Error() }
func (e shimError) Unwrap() error { return e.err }

// noTerminalMessage is what the runner says, once, when a worker starts
// without a pseudo-terminal (no /dev/pts in a container, say): its session
// then has no terminal for the kernel to hang up when the runner dies, and
// README's "no survivors of a SIGKILLed runner" does not hold for it.
func noTerminalMessage(err error) string {
	if Portable { // no parent-death signal either
		return fmt.Sprintf("cannot open a pseudo-terminal (%v): if cluster is SIGKILLed, its workers and their children may outlive it", err)
	}
	return fmt.Sprintf("cannot open a pseudo-terminal (%v): if cluster is SIGKILLed, a worker's children may outlive it (the worker itself still dies with it)", err)
}
