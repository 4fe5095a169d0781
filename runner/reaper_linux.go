package runner

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// exitStatus is how a process ended.
type exitStatus struct {
	Code   int            // exit code, or -1 when it died of a signal
	Signal syscall.Signal // 0 unless it died of a signal
}

func (e exitStatus) success() bool { return e.Code == 0 && e.Signal == 0 }

func (e exitStatus) String() string {
	if e.Signal != 0 {
		return "signal " + SignalName(e.Signal)
	}
	return "status " + strconv.Itoa(e.Code)
}

func fromWaitStatus(ws syscall.WaitStatus) exitStatus {
	if ws.Signaled() {
		return exitStatus{Code: -1, Signal: ws.Signal()}
	}
	return exitStatus{Code: ws.ExitStatus()}
}

// reaper is the single place in the program that waits for children.
//
// In "all" mode (the binary: PID 1 or a child subreaper) one goroutine blocks in
// waitid(P_ALL, WNOWAIT) to learn which child became a zombie, then takes mu and
// reaps exactly that pid. Spawns fork while holding mu, so a child that exits
// before it is registered is still matched (the reaper waits for mu), and a pid
// is never reaped while a fork could reuse it. Unregistered pids are orphans
// re-parented to us: they are reaped and dropped.
//
// In "own" mode (a library user whose process has other children, such as a
// test binary) each spawned child gets a goroutine blocked in wait4(pid), so
// children that are not ours are never touched.
//
// Every fork happens on one goroutine locked to its OS thread for the life of
// the process: Pdeathsig fires when the *thread* that forked dies, so a thread
// that never exits keeps the signal meaning "the runner died".
type reaper struct {
	all bool

	mu      sync.Mutex
	waiting map[int]chan exitStatus
	kick    chan struct{}

	forks chan forkReq
}

type forkReq struct {
	argv0 string
	argv  []string
	attr  *syscall.ProcAttr
	reply chan forkResult
}

type forkResult struct {
	pid  int
	done <-chan exitStatus
	err  error
}

var (
	reaperOnce sync.Once
	theReaper  *reaper
)

// getReaper returns the process-wide reaper; the mode is fixed by the first
// caller (there is one set of children per process).
func getReaper(all bool) *reaper {
	reaperOnce.Do(func() {
		theReaper = &reaper{
			all:     all,
			waiting: make(map[int]chan exitStatus),
			kick:    make(chan struct{}, 1),
			forks:   make(chan forkReq),
		}
		started := make(chan struct{})
		go theReaper.forkLoop(started)
		<-started
		if all {
			go theReaper.waitLoop()
		}
	})
	return theReaper
}

func (rp *reaper) forkLoop(started chan<- struct{}) {
	runtime.LockOSThread() // never unlocked: this thread lives as long as the process
	close(started)
	for req := range rp.forks {
		req.reply <- rp.fork(req)
	}
}

func (rp *reaper) fork(req forkReq) forkResult {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	// Whatever this process inherited or opened without close-on-exec stays
	// here: a child gets exactly attr.Files (ForkExec clears the flag on
	// those). One close_range call.
	cloexecFrom(3)
	pid, err := syscall.ForkExec(req.argv0, req.argv, req.attr)
	if err != nil {
		return forkResult{err: err}
	}
	ch := make(chan exitStatus, 1)
	if rp.all {
		rp.waiting[pid] = ch
		select {
		case rp.kick <- struct{}{}:
		default:
		}
	} else {
		go func() {
			var ws syscall.WaitStatus
			for {
				_, err := syscall.Wait4(pid, &ws, 0, nil)
				if err == syscall.EINTR {
					continue
				}
				if err != nil {
					ch <- exitStatus{Code: -1, Signal: syscall.SIGKILL}
					return
				}
				ch <- fromWaitStatus(ws)
				return
			}
		}()
	}
	return forkResult{pid: pid, done: ch}
}

// start forks and execs argv0 on the spawner thread and returns a channel that
// receives the exit status exactly once.
func (rp *reaper) start(argv0 string, argv []string, attr *syscall.ProcAttr) (int, <-chan exitStatus, error) {
	reply := make(chan forkResult, 1)
	rp.forks <- forkReq{argv0: argv0, argv: argv, attr: attr, reply: reply}
	res := <-reply
	return res.pid, res.done, res.err
}

func (rp *reaper) waitLoop() {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err == syscall.EINTR {
			continue
		}
		if errors.Is(err, syscall.ECHILD) {
			<-rp.kick // no children at all: sleep until the next fork
			continue
		}
		if err != nil {
			continue
		}
		pid := siginfoPid(&info)
		rp.mu.Lock()
		var ws syscall.WaitStatus
		got, werr := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		if werr == nil && got == pid {
			if ch, ok := rp.waiting[pid]; ok {
				delete(rp.waiting, pid)
				ch <- fromWaitStatus(ws)
			}
		}
		rp.mu.Unlock()
	}
}

// siginfoPid reads si_pid of a SIGCHLD siginfo_t (after signo, errno, code and
// padding on every 64-bit Linux ABI; after the three ints on 32-bit ones).
func siginfoPid(info *unix.Siginfo) int {
	b := (*[128]byte)(unsafe.Pointer(info))
	off := 12
	if unsafe.Sizeof(uintptr(0)) == 8 {
		off = 16
	}
	return int(*(*int32)(unsafe.Pointer(&b[off])))
}

// BecomeSubreaper makes orphaned descendants re-parent to this process instead
// of init, so they are reaped and stopped with the rest. As PID 1 that is
// already the case.
func BecomeSubreaper() error {
	if os.Getpid() == 1 {
		return nil
	}
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// children lists the pids whose parent is this process (orphans re-parented
// to us included). /proc/self/task/*/children costs one read per thread of
// ours; without CONFIG_PROC_CHILDREN it falls back to scanning every /proc/PID.
func children() []int {
	tasks, err := os.ReadDir("/proc/self/task")
	if err == nil {
		var out []int
		ok := true
		for _, t := range tasks {
			b, err := os.ReadFile("/proc/self/task/" + t.Name() + "/children")
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					if _, serr := os.Stat("/proc/self/task/" + t.Name()); serr == nil {
						ok = false // the kernel lacks the file: scan instead
						break
					}
				}
				continue // the thread exited meanwhile
			}
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					out = append(out, pid)
				}
			}
		}
		if ok {
			return out
		}
	}
	return scanChildren()
}

func scanChildren() []int {
	self := os.Getpid()
	var out []int
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil || pid <= 0 {
			continue
		}
		if ppidOf(pid) == self {
			out = append(out, pid)
		}
	}
	return out
}

// procName returns the command name of pid and whether it is a zombie.
func procName(pid int) (name string, zombie bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", true
	}
	open, close := strings.IndexByte(string(b), '('), strings.LastIndexByte(string(b), ')')
	if open < 0 || close < open {
		return "", false
	}
	return string(b[open+1 : close]), strings.HasPrefix(string(b[close+1:]), " Z")
}

// owns reports whether pid is a child the runner started and still waits for.
func (rp *reaper) owns(pid int) bool {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	_, ok := rp.waiting[pid]
	return ok
}

// ppidOf returns field 4 of /proc/PID/stat, or -1.
func ppidOf(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	// comm may hold spaces and parens: parse after the last ')'.
	i := len(b) - 1
	for i >= 0 && b[i] != ')' {
		i--
	}
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return -1
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return -1
	}
	return ppid
}
