package runner

import (
	"fmt"
	"slices"

	"github.com/cluster-run/cluster/procfile"
)

// reloadPlan is the rolling reload of one process type, driven by the
// supervisor goroutine: for each worker index in turn, a replacement slot
// (same index, same sockets) starts; once it is ready it takes the index and
// the old slot is stopped; then the next index. Capacity stays between N and
// N+1. A replacement that fails before it is ready aborts the plan and is
// killed; the old workers keep serving.
//
// Except where the old worker holds its foreman PORT (a type without
// listen: that port is the index's own, and the replacement gets the same
// one): two cannot both bind it, and a probe of it would reach the old one
// and call the new one ready. That old worker is stopped first, and its
// replacement starts once it is gone; a replacement that fails then is
// restarted under the restart policy, since no old worker is left.
type reloadPlan struct {
	t       *ptype
	pending []int // indexes still to replace
	cur     *slot // the replacement starting, nil between steps
	first   *slot // the old slot stopped before its replacement starts (PORT held)
	emptied int   // the index whose old slot was stopped first, until its replacement is ready
	old     *slot // the slot being stopped after cur became ready
	again   bool  // a new request arrived: start over once this step ends
	failed  bool  // the type is failed until a replacement is ready; an abort before leaves it failed
	waits   []*Wait
	newer   []*Wait // the Waits of the requests behind again
}

// Reload asks for a rolling reload of the named process types (all when
// none). It returns once the request is queued; progress is reported as
// events. Requests coalesce: one reload runs at a time, and a request for a
// type that is being reloaded restarts its plan after the current step.
func (r *Runner) Reload(types ...string) error {
	_, err := r.reload(types, false)
	return err
}

// reload is Reload that returns a Wait on the request when wait is set.
func (r *Runner) reload(types []string, wait bool) (*Wait, error) {
	var w *Wait
	var rerr error
	err := r.ask(func() {
		if wait {
			w = r.newWait()
		}
		rerr = r.requestReload(types, w)
		if rerr != nil && w != nil {
			w.fail(rerr.Error())
		}
		w.arm()
	})
	if err == nil {
		err = rerr
	}
	return w, err
}

func (r *Runner) requestReload(names []string, w *Wait) error {
	if r.stopping {
		return ErrNotRunning
	}
	var ts []*ptype
	if len(names) == 0 {
		ts = r.types
	}
	for _, n := range names {
		t := r.typeByName(n)
		if t == nil {
			return fmt.Errorf("unknown process type %q", n)
		}
		ts = append(ts, t)
		failStopped(t, w)
	}
	for _, t := range ts {
		r.queueReload(t, nil, w)
	}
	r.nextReload()
	return nil
}

// failStopped ends w when t, named in its request, is stopped (cluster stop
// TYPE): none of its workers can be replaced, so the reload cannot finish.
// A reload of every type passes over a stopped one.
func failStopped(t *ptype, w *Wait) {
	if t.stopped {
		w.fail(StoppedReason(t.p.Name))
	}
}

// StoppedReason is why a reload of the stopped type name does nothing.
func StoppedReason(name string) string {
	n := name
	return fmt.Sprintf("reload of %s aborted: %s is stopped (cluster stop %s); cluster start %s first", n, n, n, n)
}

// StoppedTypes returns those of names that are stopped (cluster stop TYPE):
// a reload passes over them.
func (r *Runner) StoppedTypes(names ...string) []string {
	var out []string
	r.ask(func() {
		for _, n := range names {
			if t := r.typeByName(n); t != nil && t.stopped {
				out = append(out, n)
			}
		}
	})
	return out
}

// reloadReq is a queued rolling replacement: idx nil means every worker.
type reloadReq struct {
	t     *ptype
	idx   []int
	waits []*Wait
}

// queueReload coalesces a request with a queued or running one of the same
// type; w (nil: nobody waits) ends when the plan that carries it out does.
func (r *Runner) queueReload(t *ptype, idx []int, w *Wait) {
	ws := r.reloadWaits(w)
	if r.plan != nil && r.plan.t == t && idx == nil {
		r.plan.again = true
		r.plan.newer = append(r.plan.newer, ws...)
		return
	}
	for i := range r.reloadQueue {
		q := &r.reloadQueue[i]
		if q.t != t {
			continue
		}
		q.waits = append(q.waits, ws...)
		if q.idx == nil || idx == nil {
			q.idx = nil
		} else {
			for _, n := range idx {
				if !slices.Contains(q.idx, n) {
					q.idx = append(q.idx, n)
				}
			}
			slices.Sort(q.idx)
		}
		return
	}
	r.reloadQueue = append(r.reloadQueue, reloadReq{t: t, idx: idx, waits: ws})
}

func (r *Runner) typeByName(name string) *ptype {
	for _, t := range r.types {
		if t.p.Name == name {
			return t
		}
	}
	return nil
}

// nextReload starts the next queued plan when none runs.
func (r *Runner) nextReload() {
	for r.plan == nil && len(r.reloadQueue) > 0 && !r.stopping {
		q := r.reloadQueue[0]
		r.reloadQueue = r.reloadQueue[1:]
		t := q.t
		if t.count == 0 || t.stopped || t.waiting {
			finishAll(q.waits) // no worker to replace
			continue
		}
		if done, _ := r.depState(t, procfile.ConditionCompleted); done && t.p.Restart != procfile.RestartAlways {
			// A one-shot type that completed has no worker to replace:
			// it runs again (its code may have changed), as a deploy
			// runs its release step; the Waits follow its new workers.
			r.event(t.p.Name, "reloading", fmt.Sprintf("running %s again (%s)", t.p.Name, plural(t.count, "worker")), 0, nil)
			t.failed, t.crashes = false, nil
			t.startWaits = append(t.startWaits, q.waits...)
			r.launch(t)
			continue
		}
		// A failed type stays failed (status shows it) until a new worker
		// is ready: a change that fixes nothing leaves it as it was.
		failed := t.failed
		t.crashes = nil
		pending := q.idx
		what := fmt.Sprintf("reloading %s (%s, one at a time)", t.p.Name, plural(t.count, "worker"))
		if pending == nil {
			pending = indexes(t.count)
		} else {
			what = fmt.Sprintf("restarting %s workers %v (one at a time)", t.p.Name, pending)
		}
		r.plan = &reloadPlan{t: t, pending: pending, waits: q.waits, failed: failed}
		r.event(t.p.Name, "reloading", what, 0, nil)
		r.stepReload()
	}
}

func indexes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

// stepReload starts the replacement of the next pending index. Once the
// cluster is stopping nothing new starts: stop asked every live slot to
// stop, and a replacement started after it would run until the shutdown
// timeout kills it.
func (r *Runner) stepReload() {
	pl := r.plan
	if r.stopping {
		r.plan = nil
		failAll(pl.waits, "the cluster is stopping: the reload did not finish")
		return
	}
	if pl.again {
		pl.again = false
		pl.waits, pl.newer = append(pl.waits, pl.newer...), nil
		pl.pending = indexes(pl.t.count)
		r.event(pl.t.p.Name, "reloading", fmt.Sprintf("reloading %s again from worker 1 (a newer request)", pl.t.p.Name), 0, nil)
	}
	for len(pl.pending) > 0 && pl.pending[0] > pl.t.count {
		pl.pending = pl.pending[1:] // scaled down meanwhile
	}
	if len(pl.pending) == 0 {
		r.event(pl.t.p.Name, "reloaded", fmt.Sprintf("%s reloaded", pl.t.p.Name), 0, nil)
		pl.t.reloads++
		r.plan = nil
		finishAll(pl.waits)
		r.nextReload()
		return
	}
	idx := pl.pending[0]
	pl.pending = pl.pending[1:]
	if old := pl.t.slots[idx]; old != nil && r.holdsPort(old) {
		pl.first = old
		r.event(old.name, "reloading", fmt.Sprintf("%s holds its PORT %d: stopping it before its replacement starts", old.name, old.foremanPort()), 0, nil)
		old.requestStop()
		return
	}
	r.startReplacement(pl, idx)
}

func (r *Runner) startReplacement(pl *reloadPlan, idx int) {
	pl.cur = r.newSlot(pl.t, idx, true)
	r.live[pl.cur] = true
	go pl.cur.run()
}

// holdsPort reports whether old, a worker of a type without listen, accepts
// connections on its foreman PORT, which its replacement would get too.
func (r *Runner) holdsPort(old *slot) bool {
	t := old.t
	port := old.foremanPort()
	if port == 0 || r.foremanPort(t, old.index) != port {
		return false // the replacement gets a port of its own
	}
	up, known := portAccepts(port)
	return up && known
}

// onReady is told by a slot that its worker became ready.
func (r *Runner) onReady(s *slot) {
	pl := r.plan
	if pl == nil || pl.cur != s {
		return
	}
	t := pl.t
	pl.cur, pl.emptied = nil, 0
	if pl.failed {
		pl.failed, t.failed = false, false // a new worker is ready: the type runs again
	}
	if s.index > t.count || t.stopped {
		s.requestStop() // its index was scaled away (or the type stopped) while it started
		r.stepReload()
		return
	}
	pl.old = t.slots[s.index]
	t.slots[s.index] = s
	if pl.old == nil {
		r.stepReload()
		return
	}
	pl.old.requestStop()
}

// reloadSlotDone moves the plan on when the slot it was stopping is gone.
func (r *Runner) reloadSlotDone(s *slot) {
	pl := r.plan
	switch {
	case pl == nil:
	case pl.old == s:
		pl.old = nil
		r.stepReload()
	case pl.first == s:
		pl.first = nil
		pl.emptied = s.index
		if r.stopping || s.index > pl.t.count || pl.t.stopped || pl.t.slots[s.index] != nil {
			r.stepReload() // stopping, scaled away or stopped meanwhile: nothing to replace
			return
		}
		r.startReplacement(pl, s.index)
	}
}

// abortReload is called when the replacement exited before it was ready.
func (r *Runner) abortReload(s *slot, why string) {
	pl := r.plan
	t := pl.t
	// Its old worker was stopped first (it held the PORT) when the index is
	// empty: it runs the new settings under the restart policy.
	empty := pl.emptied == s.index && t.slots[s.index] == nil && s.index <= t.count && !t.stopped && !r.stopping
	msg := fmt.Sprintf("reload of %s aborted: the new %s %s; the old workers keep serving", t.p.Name, s.name, why)
	switch {
	case empty:
		msg = fmt.Sprintf("reload of %s aborted: the new %s %s; its old worker was stopped first (it held its PORT): %s restarts under its restart policy", t.p.Name, s.name, why, s.name)
	case pl.failed:
		// It was failed before this try, which changed nothing: it stays
		// failed and waits for the next change.
		msg = fmt.Sprintf("reload of %s aborted: the new %s %s; ", t.p.Name, s.name, why)
		if len(t.slots) > 0 {
			msg += "the old workers keep serving; "
		}
		msg += t.p.Name + " is still failed"
		if r.opts.Watch {
			msg += "; waiting for a file change"
		}
	}
	r.event(s.name, "reload_aborted", msg, 0, nil)
	r.plan = nil
	failAll(pl.waits, msg)
	if empty {
		ns := r.newSlot(t, s.index, false)
		t.slots[s.index] = ns
		r.live[ns] = true
		go ns.run()
	}
	if pl.again {
		// A newer request (newer files) came in while this replacement
		// started: it was not what failed, so it still runs.
		r.reloadQueue = append([]reloadReq{{t: pl.t, waits: pl.newer}}, r.reloadQueue...)
	}
	r.nextReload()
}

// dropReloads removes the queued and running reloads of t (stopped or
// removed), failing their Waits with why; supervisor only. The caller
// starts the next queued plan.
func (r *Runner) dropReloads(t *ptype, why string) {
	r.reloadQueue = slices.DeleteFunc(r.reloadQueue, func(q reloadReq) bool {
		if q.t == t {
			failAll(q.waits, why)
		}
		return q.t == t
	})
	if pl := r.plan; pl != nil && pl.t == t {
		r.plan = nil // its replacement is one of the live slots the caller stops
		r.event(t.p.Name, "reload_aborted", why, 0, nil)
		failAll(pl.waits, why)
		failAll(pl.newer, why)
	}
}
