package runner

import (
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// hardGrace is how long Run may take past shutdown_timeout: after it, pipes
// still held open (by a process the kernel cannot kill, say) are closed and
// Run returns. `cluster run` therefore exits within shutdown_timeout + 2s,
// whatever the workers do.
const hardGrace = 1500 * time.Millisecond

// outputSettle is how long past the hard stop Run still waits for copies cut
// there to finish their line, and for its last events to be written.
const outputSettle = 300 * time.Millisecond

// shutdown is the bounded end of Run. The budget starts when the cluster
// starts to stop (or ends on its own): stop_signal grace until softAt
// (shutdown_timeout), SIGKILL to whatever is left, and at hardStop the
// output pipes are closed so no copy outlives the bound.
type shutdown struct {
	budgetOnce sync.Once
	softAt     time.Time     // set once by the Run goroutine, read only by it
	hardStop   chan struct{} // closed at softAt + hardGrace
	hardTimer  *time.Timer

	pipes pipeSet

	killedMu sync.Mutex
	killedBy map[int]string // leftover pid -> its command name
}

func newShutdown() shutdown {
	return shutdown{hardStop: make(chan struct{}), pipes: pipeSet{files: map[*os.File]bool{}}, killedBy: map[int]string{}}
}

// startBudget starts the shutdown clock once; it runs on the Run goroutine.
// When `cluster stop` stopped a `-- COMMAND` first, the clock started then:
// COMMAND's stop and the cluster's share one shutdown_timeout.
func (r *Runner) startBudget() {
	r.budgetOnce.Do(func() {
		r.softAt = time.Now().Add(r.shutdownTimeout)
		r.execMu.Lock()
		if at := r.execStopAt; !at.IsZero() && at.Add(r.shutdownTimeout).Before(r.softAt) {
			r.softAt = at.Add(r.shutdownTimeout)
		}
		r.execMu.Unlock()
		r.hardTimer = time.AfterFunc(time.Until(r.softAt)+hardGrace, func() {
			r.Kill()
			close(r.hardStop)
			r.pipes.closeAll()
		})
	})
}

// hastenBudget brings the hard stop to hardGrace from now, when it is
// further off: an immediate stop (Kill) has SIGKILLed every worker, and
// what they leave (pipes held open, an output nobody reads) is not waited
// for past that. It runs on the Run goroutine, after startBudget.
func (r *Runner) hastenBudget() {
	if time.Until(r.softAt) > 0 { // the hard stop is more than hardGrace away: it has not fired
		r.hardTimer.Reset(hardGrace)
	}
}

// waitBackground waits for copiers, group cleanups and proxies, but not past
// the hard stop (plus a moment for copies cut there to finish their line).
func (r *Runner) waitBackground() {
	done := make(chan struct{})
	go func() { r.background.Wait(); close(done) }()
	select {
	case <-done:
	case <-r.hardStop:
		settle := time.NewTimer(outputSettle)
		defer settle.Stop()
		tick := time.NewTicker(pollInterval)
		defer tick.Stop()
	wait:
		for !r.events.stalled() {
			// Not when nobody reads our own output: a copy blocked writing
			// to it will not finish its line however long we wait.
			select {
			case <-done:
				break wait
			case <-settle.C:
				// A write to our own output is blocked (nobody reads it):
				// that is not the workers' doing, and the bound still holds.
				break wait
			case <-tick.C:
			}
		}
	}
	if r.hardTimer != nil {
		r.hardTimer.Stop()
	}
}

// reapLeftovers stops descendants that outlived their workers (re-parented
// to us as subreaper or PID 1): their type's stop_signal, SIGKILL after its
// stop_timeout (shutdown_timeout at most), and waits for the reaper to collect them — when PID 1 exits,
// the kernel SIGKILLs whatever is left with no grace at all.
func (r *Runner) reapLeftovers() {
	if !r.rp.all {
		return
	}
	left := r.leftovers()
	if len(left) == 0 {
		return
	}
	select {
	case <-r.killAll:
	default:
		// Each gets its type's stop_signal (and SIGCONT, in case it was
		// stopped), and SIGKILL after the longest stop_timeout among
		// them, within shutdown_timeout.
		grace := time.Duration(0)
		for _, pid := range left {
			sig, timeout := r.leftoverStop(pid)
			if r.markEscapee(pid) { // not stopEscapees' already
				signalTree(pid, sig)
				signalTree(pid, sigCONT)
			}
			grace = max(grace, timeout)
		}
		soft := time.NewTimer(min(time.Until(r.softAt), grace))
		defer soft.Stop()
	wait:
		for len(r.leftovers()) > 0 {
			select {
			case <-soft.C:
				break wait
			case <-r.killAll:
				break wait
			case <-time.After(pollInterval):
			}
		}
	}
	if len(r.leftovers()) > 0 {
		r.killed.Store(true)
		r.killDescendants(r.hardStop)
	}
}

// processesLeft reports whether a process of the cluster still runs when
// shutdown_timeout passes: a live slot's (see slot.running), or a leftover
// descendant that is not a zombie waiting for the reaper.
func (r *Runner) processesLeft() bool {
	for s := range r.live {
		if s.running() {
			return true
		}
	}
	return slices.ContainsFunc(r.leftovers(), func(pid int) bool {
		_, zombie := procName(pid)
		return !zombie
	})
}

// leftoverStop is how a leftover is stopped: with the stop_signal and
// stop_timeout of the type it came from (CLUSTER_PROCESS in its
// environment), else SIGTERM and the longest stop_timeout of any type.
func (r *Runner) leftoverStop(pid int) (syscall.Signal, time.Duration) {
	if t := r.typeByName(processTypeOf(pid)); t != nil {
		return t.p.StopSignal, t.p.StopTimeout
	}
	longest := time.Duration(0)
	for _, t := range r.types {
		longest = max(longest, t.p.StopTimeout)
	}
	return sigTERM, longest
}

// leftovers lists our children, orphans re-parented to us included: only
// in "all" mode, which needs Linux's subreaper (subreaper_linux.go).
func (r *Runner) leftovers() []int {
	if !r.rp.all {
		return nil
	}
	r.execMu.Lock()
	defer r.execMu.Unlock()
	left := children()
	if r.execPid != 0 {
		left = slices.DeleteFunc(left, func(pid int) bool { return pid == r.execPid })
	}
	return left
}

// killDescendants SIGKILLs every child of ours and its group until none is
// left or until closes. It repeats because killing one process re-parents
// its children to us.
func (r *Runner) killDescendants(until <-chan struct{}) {
	for {
		left := r.leftovers()
		if len(left) == 0 {
			return
		}
		for _, pid := range left {
			if !r.rp.owns(pid) {
				r.noteKilled(pid)
			}
			signalTree(pid, sigKILL)
		}
		select {
		case <-until:
			return
		case <-time.After(pollInterval):
		}
	}
}

// noteKilled remembers a leftover (not a worker: those have their own
// event) that had to be SIGKILLed, for the line Run prints at the end.
func (r *Runner) noteKilled(pid int) {
	name, zombie := procName(pid)
	if zombie {
		return
	}
	r.killedMu.Lock()
	if _, ok := r.killedBy[pid]; !ok {
		r.killedBy[pid] = name
	}
	r.killedMu.Unlock()
}

// killedPids formats the leftovers that were SIGKILLed: "4242 (sleep), 4250 (sh)".
func (r *Runner) killedPids() string {
	r.killedMu.Lock()
	defer r.killedMu.Unlock()
	pids := make([]int, 0, len(r.killedBy))
	for pid := range r.killedBy {
		pids = append(pids, pid)
	}
	sort.Ints(pids)
	var parts []string
	for _, pid := range pids {
		p := strconv.Itoa(pid)
		if n := r.killedBy[pid]; n != "" {
			p += " (" + n + ")"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}

// pipeSet holds the read ends of every worker's output pipes, so the hard
// stop can close them: a process that escaped every kill may hold the write
// end forever.
type pipeSet struct {
	mu     sync.Mutex
	closed bool
	files  map[*os.File]bool
}

// add registers f; false when the set is already closed (f is closed then).
func (p *pipeSet) add(f *os.File) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		f.Close()
		return false
	}
	p.files[f] = true
	return true
}

func (p *pipeSet) remove(f *os.File) {
	p.mu.Lock()
	delete(p.files, f)
	p.mu.Unlock()
}

func (p *pipeSet) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for f := range p.files {
		f.Close() // unblocks the copier's Read (the fd is in the runtime poller)
	}
}

// stopEscapees sends the stop signal (then SIGCONT) to the descendants of
// worker index of type name that left its process group and were
// re-parented to us, during the cluster's stop, as soon as that worker is
// gone: one holding the worker's output would otherwise hold its report for
// outputGrace, and get its signal only once every worker has reported.
// Only that worker's (CLUSTER_PROCESS and CLUSTER_WORKER): a sibling still
// draining may still use its own, and a dependency's stop waits for its
// dependents; the rest are stopped by reapLeftovers once every worker is
// gone. Each gets its stop signal once (reapLeftovers then waits for it,
// and SIGKILLs it at the usual bound).
func (r *Runner) stopEscapees(name string, index int, sig syscall.Signal) {
	if !r.rp.all {
		return
	}
	worker := strconv.Itoa(index)
	for _, pid := range r.leftovers() {
		if r.rp.owns(pid) || !r.markEscapeeOf(pid, name, worker) {
			continue
		}
		signalTree(pid, sig)
		if sig != sigCONT && sig != sigKILL {
			signalTree(pid, sigCONT)
		}
	}
}

// markEscapeeOf marks pid (markEscapee) if it descends from worker of type
// name.
func (r *Runner) markEscapeeOf(pid int, name, worker string) bool {
	typ, w := processWorkerOf(pid)
	return typ == name && w == worker && r.markEscapee(pid)
}

// markEscapee notes that a leftover got its stop signal, and reports
// whether it had not yet.
func (r *Runner) markEscapee(pid int) bool {
	r.escapeesMu.Lock()
	defer r.escapeesMu.Unlock()
	if r.escapees[pid] {
		return false
	}
	if r.escapees == nil {
		r.escapees = map[int]bool{}
	}
	r.escapees[pid] = true
	return true
}
