package runner

import (
	"fmt"
	"github.com/cluster-run/cluster/procfile"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// WorkerStatus is one row of `cluster status`.
type WorkerStatus struct {
	Name       string  `json:"name"`
	Process    string  `json:"process"`
	Index      int     `json:"index"`
	PID        int     `json:"pid"`
	State      State   `json:"state"`
	UptimeSec  float64 `json:"uptime_seconds"`
	Restarts   int     `json:"restarts"`
	CPUPercent float64 `json:"cpu_percent"`
	CPUSeconds float64 `json:"cpu_seconds"`
	RSS        int64   `json:"rss_bytes"`
	// UsageUnknown: CPU and RSS could not be read (no /proc and ps failed);
	// they are 0 then, and status shows "-".
	UsageUnknown bool   `json:"usage_unknown,omitempty"`
	Conns        *int64 `json:"connections,omitempty"` // proxy mode
	// Extra: a second slot of its index, which another holds: a reload's
	// replacement not yet ready, or a worker stopping after it was replaced
	// (also one of a stopped or scaled-away index). Not in Ready counts.
	Extra      bool   `json:"extra,omitempty"`
	LastExit   *int   `json:"last_exit,omitempty"`
	LastSignal string `json:"last_signal,omitempty"` // "SIGKILL" when a signal ended it
}

// TypeStatus is the per-type part of status and metrics.
type TypeStatus struct {
	Name    string `json:"name"`
	Workers int    `json:"workers"`
	Ready   int    `json:"ready"`
	Reloads int    `json:"reloads"`
	Failed  bool   `json:"failed"`
	Stopped bool   `json:"stopped,omitempty"` // by `cluster stop TYPE`
	// Completed: a one-shot type (restart "never" or "on-failure") whose
	// workers all exited 0: nothing of it is left to be ready.
	Completed bool `json:"completed,omitempty"`
	// WaitingFor lists the dependencies a waiting type waits for
	// ("migrate completed"); NotStarted says why it never will.
	WaitingFor []string `json:"waiting_for,omitempty"`
	NotStarted string   `json:"not_started,omitempty"`
	LastExit   *int     `json:"last_exit,omitempty"`
	LastSignal string   `json:"last_signal,omitempty"`
}

// Status is a snapshot of the running cluster.
type Status struct {
	Name    string         `json:"name"`
	Types   []TypeStatus   `json:"types"`
	Workers []WorkerStatus `json:"workers"`
}

// ask runs f on the supervisor goroutine and waits for it.
func (r *Runner) ask(f func()) error {
	done := make(chan struct{})
	select {
	case r.requests <- func() { f(); close(done) }:
		<-done
		return nil
	case <-r.loopDone:
		return ErrNotRunning
	}
}

// Status reports every worker with CPU and memory of its process group, read
// from /proc on Linux and with one ps run elsewhere (at most once a second
// per worker; a faster caller gets the last reading).
func (r *Runner) Status() (Status, error) {
	// Each worker's row is read on the supervisor goroutine, in one instant
	// with which slot holds each index: a reload's replacement and the old
	// worker it replaces are then never both counted ready.
	type row struct {
		s     *slot
		info  WorkerInfo
		extra bool // another slot holds its index
	}
	var rows []row
	var types []TypeStatus
	order := map[string]int{} // Apply may reorder r.types: read it here
	err := r.ask(func() {
		ready := map[*ptype]int{}
		for s := range r.live {
			s.mu.Lock()
			rw := row{s: s, info: s.info, extra: s.t.slots[s.index] != s}
			s.mu.Unlock()
			if !rw.extra && rw.info.State == StateReady {
				ready[s.t]++
			}
			rows = append(rows, rw)
		}
		for i, t := range r.types {
			ts := TypeStatus{Name: t.p.Name, Workers: t.count, Ready: ready[t], Reloads: t.reloads, Failed: t.failed, Stopped: t.stopped}
			if t.waiting && !t.stopped {
				ts.WaitingFor, _ = r.unmet(t)
				ts.NotStarted = t.blocked
			}
			if t.count > 0 {
				ts.Completed, _ = r.depState(t, procfile.ConditionCompleted)
			}
			types = append(types, ts)
			order[t.p.Name] = i
		}
	})
	if err != nil {
		return Status{}, err
	}
	st := Status{Name: r.opts.Config.Name, Types: types}
	pgids := map[int]bool{}
	for _, rw := range rows {
		if rw.info.PID > 0 {
			pgids[rw.info.PID] = true
		}
	}
	usages, known := groupUsages(r.rp, pgids)
	now := time.Now()
	for _, rw := range rows {
		s, i := rw.s, rw.info
		ws := WorkerStatus{Name: i.Name, Process: i.Process, Index: i.Index, PID: i.PID, State: i.State, Restarts: i.Restarts, LastExit: i.Last, LastSignal: i.LastSignal, Extra: rw.extra}
		s.mu.Lock()
		if i.PID > 0 {
			ws.UptimeSec = now.Sub(i.Started).Seconds()
			// A process started since the row was read has a fresh sampler.
			if known && s.info.PID == i.PID && (now.Sub(s.sampler.at) >= time.Second || s.sampler.at.IsZero()) {
				s.cpu, s.rss, s.cpuSec = s.sampler.sample(usages[i.PID], now)
			}
			ws.UsageUnknown = s.sampler.at.IsZero()
			ws.CPUPercent, ws.RSS, ws.CPUSeconds = s.cpu, s.rss, s.cpuSec
		}
		if s.backend != nil {
			n := s.backend.open.Load()
			ws.Conns = &n
		}
		s.mu.Unlock()
		st.Workers = append(st.Workers, ws)
		for k := range st.Types {
			if st.Types[k].Name == ws.Process && (ws.LastExit != nil || ws.LastSignal != "") {
				st.Types[k].LastExit, st.Types[k].LastSignal = ws.LastExit, ws.LastSignal
			}
		}
	}
	sort.Slice(st.Workers, func(a, b int) bool {
		wa, wb := st.Workers[a], st.Workers[b]
		if wa.Process != wb.Process {
			return typeOrder(order, wa.Process) < typeOrder(order, wb.Process)
		}
		if wa.Index != wb.Index {
			return wa.Index < wb.Index
		}
		return wa.PID < wb.PID
	})
	return st, nil
}

// typeOrder is a type's position in the file; a removed type's workers
// that are still stopping come last.
func typeOrder(order map[string]int, name string) int {
	if i, ok := order[name]; ok {
		return i
	}
	return len(order)
}

// parseTarget splits "web" (idx 0: every worker of the type) or "web.2".
// Indexes are 1-based: "web.0" and an index above the count are errors,
// never "all of them".
func (r *Runner) parseTarget(target string) (*ptype, int, error) {
	t, idx, indexed, err := r.targetType(target)
	if err == nil && indexed && (idx < 1 || idx > t.count) {
		name := t.p.Name
		if t.count == 0 {
			return nil, 0, fmt.Errorf("%s has no workers (scaled to 0), so there is no %s", name, target)
		}
		return nil, 0, fmt.Errorf("%s has workers %s.1 to %s.%d (indexes start at 1), not %s", name, name, name, t.count, target)
	}
	return t, idx, err
}

// parseLogTarget is parseTarget for `cluster logs`: any index from 1 of a
// known type, as the ring keeps the lines of workers that a scale down
// removed.
func (r *Runner) parseLogTarget(target string) (*ptype, int, error) {
	t, idx, indexed, err := r.targetType(target)
	if err == nil && indexed && idx < 1 {
		return nil, 0, fmt.Errorf("%s: worker indexes start at 1 (e.g. %s.1)", target, t.p.Name)
	}
	return t, idx, err
}

// targetType splits "web" or "web.2" (indexed, any number) and finds the type.
func (r *Runner) targetType(target string) (t *ptype, idx int, indexed bool, err error) {
	name := target
	if i := strings.LastIndexByte(target, '.'); i > 0 && r.typeByName(target) == nil {
		n, err := strconv.Atoi(target[i+1:])
		if err != nil {
			return nil, 0, false, fmt.Errorf("%q: the worker index after the dot must be a number (e.g. %s.1)", target, target[:i])
		}
		name, idx, indexed = target[:i], n, true
	}
	if t = r.typeByName(name); t == nil {
		return nil, 0, false, fmt.Errorf("unknown process type %q", name)
	}
	return t, idx, indexed, nil
}

// Restart replaces workers one at a time, each replacement ready before the
// old one stops: "web" restarts every worker of web, "web.2" only that one.
func (r *Runner) Restart(targets ...string) ([]string, error) {
	did, _, err := r.restart(targets, false)
	return did, err
}

// RestartWait is Restart that also returns a Wait on the restart (nil with
// the error): `cluster restart --wait`.
func (r *Runner) RestartWait(targets ...string) ([]string, *Wait, error) {
	return r.restart(targets, true)
}

func (r *Runner) restart(targets []string, wait bool) ([]string, *Wait, error) {
	var did []string
	var w *Wait
	var rerr error
	err := r.ask(func() {
		if wait {
			w = r.newWait()
			defer w.arm()
		}
		if r.stopping {
			rerr = ErrNotRunning
			return
		}
		reqs := map[*ptype][]int{}
		var order []*ptype
		for _, tg := range targets {
			t, idx, err := r.parseTarget(tg)
			if err != nil {
				rerr = err
				return
			}
			if t.stopped {
				rerr = fmt.Errorf("%s is stopped: cluster start %s first", t.p.Name, t.p.Name)
				return
			}
			if _, ok := reqs[t]; !ok {
				order = append(order, t)
			}
			if idx == 0 {
				reqs[t] = indexes(t.count)
			} else if !slices.Contains(reqs[t], idx) {
				reqs[t] = append(reqs[t], idx)
			}
		}
		for _, t := range order {
			sort.Ints(reqs[t])
			r.queueReload(t, reqs[t], w)
			for _, i := range reqs[t] {
				did = append(did, t.p.Name+"."+strconv.Itoa(i))
			}
		}
		r.nextReload()
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return nil, nil, err
	}
	return did, w, nil
}

// Scale sets the worker count of a type: up starts the new indexes, down
// stops the highest ones gracefully.
func (r *Runner) Scale(name string, n int) (from int, err error) {
	from2, err := r.ScaleAll([]Count{{Name: name, N: n}})
	if err != nil {
		return 0, err
	}
	return from2[0], nil
}

// Count is one PROCESS=N of cluster scale.
type Count struct {
	Name string
	N    int
}

// ScaleAll sets several counts as one request: every name, count and the
// total are checked before any count changes, so a refused request changes
// nothing. from holds each type's count before, in the order of counts.
func (r *Runner) ScaleAll(counts []Count) (from []int, err error) {
	var rerr error
	err = r.ask(func() {
		if r.stopping {
			rerr = ErrNotRunning
			return
		}
		ts := make([]*ptype, len(counts))
		total := r.totalWorkers()
		for i, c := range counts {
			t := r.typeByName(c.Name)
			switch {
			case t == nil:
				rerr = fmt.Errorf("unknown process type %q", c.Name)
			case slices.Contains(ts[:i], t):
				rerr = fmt.Errorf("%s is given twice", c.Name)
			case c.N < 0:
				rerr = fmt.Errorf("%s=%d: a count is 0 or more", c.Name, c.N)
			case c.N > procfile.MaxWorkers:
				rerr = fmt.Errorf("%s=%d: over the limit of %d workers per type", c.Name, c.N, procfile.MaxWorkers)
			}
			if rerr != nil {
				return
			}
			ts[i] = t
			total += c.N - t.count
		}
		if total > procfile.MaxTotalWorkers {
			what := make([]string, len(counts))
			for i, c := range counts {
				what[i] = c.Name + "=" + strconv.Itoa(c.N)
			}
			rerr = fmt.Errorf("%s: would make %d workers in all, over the limit of %d", strings.Join(what, " "), total, procfile.MaxTotalWorkers)
			return
		}
		for i, t := range ts {
			if err := r.portOverflow(t, counts[i].N); err != nil {
				rerr = fmt.Errorf("%s=%d: %w", counts[i].Name, counts[i].N, err)
				return
			}
		}
		for i, t := range ts {
			from = append(from, t.count)
			r.scale(t, counts[i].N)
		}
	})
	if err == nil {
		err = rerr
	}
	return from, err
}

// totalWorkers is the wanted count over every type; supervisor goroutine only.
func (r *Runner) totalWorkers() int {
	n := 0
	for _, t := range r.types {
		n += t.count
	}
	return n
}

// scale runs on the supervisor goroutine.
func (r *Runner) scale(t *ptype, n int) {
	if n == t.count && (!t.failed || n == 0) {
		return
	}
	old := t.count
	t.count = n
	if t.stopped || t.waiting { // the new count applies when it starts
		if n == old {
			return
		}
		what := "stopped"
		if !t.stopped {
			what = "waiting"
		}
		r.event(t.p.Name, "scaled", fmt.Sprintf("%s (%s) scaled from %d to %s", t.p.Name, what, old, plural(n, "worker")), 0, nil)
		return
	}
	for i := n + 1; i <= old; i++ {
		if s := t.slots[i]; s != nil {
			s.requestStop()
			delete(t.slots, i) // a scale up before it is gone starts that index again
		}
	}
	if n > old || t.failed {
		from := old + 1
		if t.failed {
			// Its failed workers are gone (slotDone), and the ones that
			// waited to restart are on their way out (stopBackoffs): no
			// longer failed, the type gets every worker back, not only the
			// new indices; at the same count too (`cluster scale crash=2`
			// once the cause is fixed).
			from = 1
		}
		t.failed = false
		t.crashes = nil
		var again []string
		for i := from; i <= n; i++ {
			if s := t.slots[i]; s != nil && (from > old || !s.retired()) {
				continue
			}
			s := r.newSlot(t, i, false)
			t.slots[i] = s
			r.live[s] = true
			go s.run()
			if i <= old {
				again = append(again, s.name)
			}
		}
		msg := fmt.Sprintf("%s scaled from %d to %s", t.p.Name, old, plural(n, "worker"))
		if n == old {
			msg = fmt.Sprintf("%s stays at %s", t.p.Name, plural(n, "worker"))
		}
		if len(again) > 0 {
			msg += "; it was failed: starting " + strings.Join(again, ", ") + " again"
		}
		r.event(t.p.Name, "scaled", msg, 0, nil)
		return
	}
	r.event(t.p.Name, "scaled", fmt.Sprintf("%s scaled from %d to %s", t.p.Name, old, plural(n, "worker")), 0, nil)
}

// scaleListening adds (delta 1) or removes (delta -1) one worker of every
// type that has listen, never going below 1 (SIGTTIN / SIGTTOU).
func (r *Runner) ScaleListening(delta int) error {
	return r.ask(func() {
		if r.stopping {
			return
		}
		for _, t := range r.types {
			if len(t.p.Listen) == 0 {
				continue
			}
			n := t.count + delta
			if n < 1 {
				n = 1
			}
			if n == t.count {
				continue // TTOU at 1: nothing to do (not the restart of a failed type that scale does)
			}
			if n > procfile.MaxWorkers || r.totalWorkers()-t.count+n > procfile.MaxTotalWorkers {
				r.event(t.p.Name, "scaled", fmt.Sprintf("%s: not adding a worker: at the limit (%d per type, %d in all)", t.p.Name, procfile.MaxWorkers, procfile.MaxTotalWorkers), 0, nil)
				continue
			}
			r.scale(t, n)
		}
	})
}

// Signal sends sig to the named workers: their process group with kill_mode
// group, the worker alone with mixed.
func (r *Runner) Signal(target string, sig syscall.Signal) ([]string, error) {
	var did []string
	var rerr error
	err := r.ask(func() {
		t, idx, err := r.parseTarget(target)
		if err != nil {
			rerr = err
			return
		}
		for i := 1; i <= t.count; i++ {
			if idx != 0 && i != idx {
				continue
			}
			s := t.slots[i]
			if s == nil {
				continue
			}
			s.mu.Lock()
			pid := s.info.PID
			s.mu.Unlock()
			if pid <= 0 {
				continue
			}
			if s.p.KillMode == "mixed" {
				syscall.Kill(pid, sig)
			} else {
				signalGroup(pid, sig)
			}
			did = append(did, s.name+" (pid "+strconv.Itoa(pid)+")")
		}
		if len(did) == 0 {
			rerr = fmt.Errorf("no running worker matches %s", target)
		}
	})
	if err == nil {
		err = rerr
	}
	return did, err
}

// Stop starts a graceful stop, as cancelling Run's context does; Run then
// returns nil when every worker stopped in time.
func (r *Runner) Stop() error {
	return r.ask(func() { r.stopRequested = true })
}

// StopTypes stops every worker of the named types gracefully, as a cluster
// stop would, and keeps them stopped: the rest of the cluster runs on, and
// their sockets stay bound (connections wait in the queue) until StartTypes.
func (r *Runner) StopTypes(names ...string) ([]string, error) {
	var did []string
	var rerr error
	err := r.ask(func() {
		ts, err := r.typesNamed(names)
		if err != nil {
			rerr = err
			return
		}
		for _, t := range ts {
			if t.stopped {
				did = append(did, t.p.Name+" (already stopped)")
				continue
			}
			t.stopped, t.launched, t.spawnedAll, t.readyAll = true, false, false, false
			if r.readyWaiting[t] {
				delete(r.readyWaiting, t) // `cluster run -- CMD` does not wait for it
				r.maybeReady()
			}
			r.dropReloads(t, fmt.Sprintf("reload of %s aborted: the type is being stopped", t.p.Name))
			failAll(t.startWaits, fmt.Sprintf("%s was stopped before it started", t.p.Name))
			t.startWaits = nil
			r.nextReload()
			for s := range r.live {
				if s.t == t {
					s.requestStop()
				}
			}
			clear(t.slots) // the stopping ones still drain; a start before they are gone fills every index again
			r.event(t.p.Name, "type_stopping", fmt.Sprintf("stopping %s (cluster stop %s); its sockets stay bound until cluster start %s", t.p.Name, t.p.Name, t.p.Name), 0, nil)
			did = append(did, t.p.Name)
		}
	})
	if err == nil {
		err = rerr
	}
	return did, err
}

// StartTypes starts the workers of types stopped by StopTypes (or failed
// for good) again.
func (r *Runner) StartTypes(names ...string) ([]string, error) {
	var did []string
	var rerr error
	err := r.ask(func() {
		if r.stopping {
			rerr = ErrNotRunning
			return
		}
		ts, err := r.typesNamed(names)
		if err != nil {
			rerr = err
			return
		}
		for _, t := range ts {
			if t.waiting && !t.stopped {
				list, _ := r.unmet(t)
				did = append(did, t.p.Name+" (waiting for "+strings.Join(list, ", ")+")")
				continue
			}
			if !t.stopped && !t.failed {
				did = append(did, t.p.Name+" (already running)")
				continue
			}
			t.stopped, t.failed, t.crashes = false, false, nil
			r.startType(t, "")
			if t.waiting {
				list, _ := r.unmet(t)
				did = append(did, t.p.Name+" (waiting for "+strings.Join(list, ", ")+")")
				continue
			}
			did = append(did, t.p.Name)
		}
	})
	if err == nil {
		err = rerr
	}
	return did, err
}

// typesNamed resolves type names, all or nothing; supervisor goroutine only.
func (r *Runner) typesNamed(names []string) ([]*ptype, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("name at least one process type")
	}
	var ts []*ptype
	for _, n := range names {
		t := r.typeByName(n)
		if t == nil {
			return nil, fmt.Errorf("unknown process type %q", n)
		}
		if !slices.Contains(ts, t) {
			ts = append(ts, t)
		}
	}
	return ts, nil
}
