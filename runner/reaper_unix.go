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
// Forks run outside mu, several at once, and register their child under mu
// once ForkExec returns; a child can exit before that. So a zombie that is
// not registered while forks that began before it was seen are still in
// flight makes the reaper wait for those forks (forked), then look again.
// Still unregistered, it is an orphan re-parented to us: reaped and
// dropped. Reaping and registering both hold mu, so a pid freed by a reap
// and reused by a fork is never mistaken for the old process. Elsewhere no
// orphan is ever re-parented to us, so own mode is all there is.
//
// Forks happen on forkThreads goroutines, each locked to its OS thread for
// the life of the process: Linux's Pdeathsig fires when the *thread* that
// forked dies, so a thread that never exits keeps the signal meaning "the
// runner died". Go lets forks on different threads overlap, and each waits
// for its child's exec, so two threads start a burst of workers faster.
type reaper struct {
	all bool

	mu      sync.Mutex
	waiting map[int]chan exitStatus
	kick    chan struct{}
	// All mode: the forks in flight, whose children may exit before their
	// pids are in waiting, by sequence number; forked is broadcast on mu
	// when one ends.
	inflight map[uint64]bool
	forkSeq  uint64
	forked   *sync.Cond

	forks chan forkReq
}

// forkThreads is how many threads fork at once: Go lets forks on different
// threads overlap, and each one waits for its child's exec.
const forkThreads = 2

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

// markInherited marks every descriptor from 3 up close-on-exec (New calls
// it once); a variable so that tests can count the calls.
var markInherited = cloexecFrom

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
			all:      all && reapAllAvailable,
			waiting:  make(map[int]chan exitStatus),
			kick:     make(chan struct{}, 1),
			forks:    make(chan forkReq),
			inflight: make(map[uint64]bool),
		}
		theReaper.forked = sync.NewCond(&theReaper.mu)
		for range forkThreads {
			go theReaper.forkLoop() // a fork request waits until it runs
		}
		if theReaper.all {
			go theReaper.waitLoop()
		}
	})
	return theReaper
}

func (rp *reaper) forkLoop() {
	runtime.LockOSThread() // never unlocked: this thread lives as long as the process
	for req := range rp.forks {
		req.reply <- rp.fork(req)
	}
}

func (rp *reaper) fork(req forkReq) forkResult {
	// A child gets exactly attr.Files (ForkExec clears close-on-exec on
	// those): what this process inherited was marked once, at start
	// (markInherited), and what it opens is close-on-exec already. Marking
	// before every fork cost FreeBSD without close_range or fdescfs a fcntl
	// per number up to the descriptor limit, for each worker and ps started.
	if !rp.all {
		pid, err := syscall.ForkExec(req.argv0, req.argv, req.attr)
		if err != nil {
			return forkResult{err: err}
		}
		ch := make(chan exitStatus, 1)
		go waitPid(pid, ch)
		return forkResult{pid: pid, done: ch}
	}
	rp.mu.Lock()
	rp.forkSeq++
	seq := rp.forkSeq
	rp.inflight[seq] = true
	rp.mu.Unlock()
	pid, err := syscall.ForkExec(req.argv0, req.argv, req.attr)
	ch := make(chan exitStatus, 1)
	rp.mu.Lock()
	delete(rp.inflight, seq)
	if err == nil {
		rp.waiting[pid] = ch
	}
	rp.forked.Broadcast()
	rp.mu.Unlock()
	if err != nil {
		return forkResult{err: err}
	}
	select {
	case rp.kick <- struct{}{}:
	default:
	}
	return forkResult{pid: pid, done: ch}
}

// forkingBefore reports whether a fork numbered below seq is still in
// flight; rp.mu must be held.
func (rp *reaper) forkingBefore(seq uint64) bool {
	for s := range rp.inflight {
		if s < seq {
			return true
		}
	}
	return false
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

// start forks and execs argv0 on a fork thread and returns a channel that
// receives the exit status exactly once.
func (rp *reaper) start(argv0 string, argv []string, attr *syscall.ProcAttr) (int, <-chan exitStatus, error) {
	reply := make(chan forkResult, 1)
	rp.forks <- forkReq{argv0: argv0, argv: argv, attr: attr, reply: reply}
	res := <-reply
	return res.pid, res.done, res.err
}

// owns reports whether pid is a child the runner started and still waits
// for. A child whose fork is still in flight is not registered yet: it waits
// for those forks, as the reaper does.
func (rp *reaper) owns(pid int) bool {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	rp.awaitForks(pid)
	_, ok := rp.waiting[pid]
	return ok
}

// awaitForks waits until pid is registered or no fork that began before
// the call is still in flight (one of them may have made pid and registers
// it once it has mu); rp.mu must be held.
func (rp *reaper) awaitForks(pid int) {
	upto := rp.forkSeq + 1
	for rp.waiting[pid] == nil && rp.forkingBefore(upto) {
		rp.forked.Wait()
	}
}
