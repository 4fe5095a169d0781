package runner

import (
	"errors"
	"fmt"
)

// ErrAborted: a reload or restart followed with a Wait did not finish.
var ErrAborted = errors.New("reload aborted")

// abortError is why a Wait ended early; it matches ErrAborted.
type abortError struct{ why string }

func (e abortError) Error() string { return e.why }
func (e abortError) Unwrap() error { return ErrAborted }

// Wait follows one reload or restart request to its end (`cluster reload
// --wait`). The supervisor goroutine owns it: while it handles the request
// it attaches the Wait to each piece of work the request queued — the
// rolling plan of a type, a new worker that must become ready — and counts
// them down as they finish; the first abort ends it with the reason. The
// result is sent once on a buffered channel, so the supervisor never blocks
// on a client that went away.
type Wait struct {
	r     *Runner
	left  int  // pieces of work not finished, +1 until armed; supervisor only
	ended bool // supervisor only
	cycle bool // the runner's reload cycle (see reloadWaits): an abort counts as done
	done  chan error
}

// newWait registers a Wait; supervisor goroutine only. It ends no earlier
// than its arm call, made once every piece of work is attached.
func (r *Runner) newWait() *Wait {
	w := &Wait{r: r, left: 1, done: make(chan error, 1)}
	if r.waits == nil {
		r.waits = map[*Wait]bool{}
	}
	r.waits[w] = true
	return w
}

// The methods below are nil-safe: a request nobody waits for has no Wait.

func (w *Wait) add() {
	if w != nil {
		w.left++
	}
}

func (w *Wait) arm() { w.finish() }

func (w *Wait) finish() {
	if w == nil || w.ended {
		return
	}
	if w.left--; w.left == 0 {
		w.end(nil)
	}
}

func (w *Wait) fail(why string) {
	if w != nil && w.cycle {
		w.finish()
		return
	}
	if w != nil && !w.ended {
		w.end(abortError{why})
	}
}

func (w *Wait) end(err error) {
	w.ended = true
	if w.cycle {
		w.r.cycle = nil
		w.r.event("", "reload_finished", "every reload requested finished", 0, nil)
		return
	}
	delete(w.r.waits, w)
	w.done <- err
}

// reloadWaits is what a queued reload counts down as it runs: w (nil:
// nobody waits for the request) and the reload cycle. The cycle is one
// Wait on every reload queued since the last one ended, with each new
// worker it starts (a completed one-shot type runs again); when the last
// of them is done or aborted, the runner says "reload_finished": sd_notify's
// READY=1 after the RELOADING=1 of the cycle's first "reloading". The
// binary does not print it: each type's end has a line of its own.
// Supervisor only.
func (r *Runner) reloadWaits(w *Wait) []*Wait {
	if r.cycle == nil {
		r.cycle = &Wait{r: r, cycle: true}
	}
	ws := []*Wait{r.cycle}
	if w != nil {
		ws = append(ws, w)
	}
	for _, x := range ws {
		x.add()
	}
	return ws
}

func finishAll(ws []*Wait) {
	for _, w := range ws {
		w.finish()
	}
}

func failAll(ws []*Wait, why string) {
	for _, w := range ws {
		w.fail(why)
	}
}

// failWaits ends every Wait when the cluster stops; supervisor only.
func (r *Runner) failWaits(why string) {
	for w := range r.waits {
		w.fail(why)
	}
}

// watchSlot makes w wait until s is ready (a new type's or a scaled-up
// worker); supervisor only.
func (r *Runner) watchSlot(s *slot, w *Wait) {
	if w == nil || s == nil {
		return
	}
	w.add()
	if r.slotWaits == nil {
		r.slotWaits = map[*slot][]*Wait{}
	}
	r.slotWaits[s] = append(r.slotWaits[s], w)
}

// slotWaitsReady and slotWaitsDone settle the Waits on a watched slot.
func (r *Runner) slotWaitsReady(s *slot) {
	finishAll(r.slotWaits[s])
	delete(r.slotWaits, s)
}

// slotWaitsFailed aborts the Waits on a new worker that exited (or was
// killed) before it was ready: a reload is aborted when a new worker fails,
// even though the worker is restarted after its backoff (a crash loop would
// otherwise hold reload --wait for as long as it lasts).
func (r *Runner) slotWaitsFailed(s *slot, why string) {
	ws := r.slotWaits[s]
	delete(r.slotWaits, s)
	failAll(ws, fmt.Sprintf("the new %s %s", s.name, why))
}

func (r *Runner) slotWaitsDone(s *slot) {
	ws := r.slotWaits[s]
	delete(r.slotWaits, s)
	switch {
	case len(ws) == 0:
	case s.t.failed:
		failAll(ws, fmt.Sprintf("%s failed before %s was ready (its restart policy gave up; see the log)", s.t.p.Name, s.name))
	case s.t.stopped:
		failAll(ws, fmt.Sprintf("%s was stopped (cluster stop %s) before %s was ready", s.t.p.Name, s.t.p.Name, s.name))
	case s.t.removed:
		failAll(ws, fmt.Sprintf("%s was removed from the file before %s was ready", s.t.p.Name, s.name))
	default:
		finishAll(ws) // scaled down meanwhile: nothing left to wait for
	}
}

// Result blocks until the request finished: nil when every worker it
// targeted was replaced (or started) and is ready, an error matching
// ErrAborted with the reason when it was aborted or the cluster stopped
// first. It returns nil early when cancel closes (the client left).
func (w *Wait) Result(cancel <-chan struct{}) error {
	select {
	case err := <-w.done:
		return err
	case <-w.r.loopDone:
		select {
		case err := <-w.done:
			return err
		default:
			return abortError{"the cluster stopped before the reload finished"}
		}
	case <-cancel:
		return nil
	}
}
