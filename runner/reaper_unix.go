//go:build unix

package runner

import (
	"runtime"
	"strconv"
	"sync"
	"syscall"
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
// In "own" mode, the portable one, each spawned child gets a goroutine
// blocked in wait4(pid), so children that are not ours (a library user's, a
// test binary's) are never touched.
//
// In "all" mode (Linux only, subreaper_linux.go: the binary as PID 1 or a
// child subreaper) one goroutine blocks in waitid(P_ALL, WNOWAIT) to learn
// which child became a zombie, then takes mu and reaps exactly that pid.
// Spawns fork while holding mu, so a child that exits before it is
// registered is still matched (the reaper waits for mu), and a pid is never
// reaped while a fork could reuse it. Unregistered pids are orphans
// re-parented to us: they are reaped and dropped. Elsewhere no orphan is ever
// re-parented to us, so own mode is all there is.
//
// Every fork happens on one goroutine locked to its OS thread for the life of
// the process: Linux's Pdeathsig fires when the *thread* that forked dies, so
// a thread that never exits keeps the signal meaning "the runner died".
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
// caller (there is one set of children per process). all is honoured only
// where orphans can come to us (reapAllAvailable).
func getReaper(all bool) *reaper {
	reaperOnce.Do(func() {
		theReaper = &reaper{
			all:     all && reapAllAvailable,
			waiting: make(map[int]chan exitStatus),
			kick:    make(chan struct{}, 1),
			forks:   make(chan forkReq),
		}
		started := make(chan struct{})
		go theReaper.forkLoop(started)
		<-started
		if theReaper.all {
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
	// those).
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
		go waitPid(pid, ch)
	}
	return forkResult{pid: pid, done: ch}
}

// waitPid is own mode: wait4 for one child we forked.
func waitPid(pid int, ch chan<- exitStatus) {
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
}

// start forks and execs argv0 on the spawner thread and returns a channel that
// receives the exit status exactly once.
func (rp *reaper) start(argv0 string, argv []string, attr *syscall.ProcAttr) (int, <-chan exitStatus, error) {
	reply := make(chan forkResult, 1)
	rp.forks <- forkReq{argv0: argv0, argv: argv, attr: attr, reply: reply}
	res := <-reply
	return res.pid, res.done, res.err
}

// owns reports whether pid is a child the runner started and still waits for.
func (rp *reaper) owns(pid int) bool {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	_, ok := rp.waiting[pid]
	return ok
}
