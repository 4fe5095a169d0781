package runner

import (
	"fmt"
	"strings"

	"github.com/cluster-run/cluster/procfile"
)

// Start order (depends_on). Everything here runs on the supervisor
// goroutine, which owns each ptype's waiting state:
//
//   - A type whose dependencies have not reached their condition waits
//     (ptype.waiting): it has no slot. checkWaiting, run after every event
//     the supervisor handles, launches it once they have.
//   - A dependency that fails for good (or ends without reaching its
//     condition) keeps its dependents from starting, says so once per
//     type, and fails the cluster as a failed type does (not in watch mode,
//     where the next file change may revive it).
//   - A condition once reached stays reached (ptype.spawnedAll, readyAll),
//     until the dependency is stopped or started again.
//   - A dependency outside this run (not selected, 0 workers, removed from
//     the file) is met: there is nothing to wait for.
//   - At stop, a type's workers are asked to stop only once no live worker
//     of a type that depends on it is left (stopInOrder): dependents first.

// depState says whether dep has reached c; why is set when it never will.
func (r *Runner) depState(dep *ptype, c procfile.Condition) (met bool, why string) {
	name := dep.p.Name
	switch {
	case dep.failed:
		return false, fmt.Sprintf("%s failed (%s)", name, exitWords(dep.lastExit))
	case dep.stopped:
		return false, ""
	case dep.waiting:
		if dep.blocked != "" {
			return false, name + " was not started"
		}
		return false, ""
	case !dep.launched:
		return false, ""
	}
	live := 0
	for s := range r.live {
		if s.t == dep {
			live++
		}
	}
	switch c {
	case procfile.ConditionCompleted:
		if live == 0 && dep.succeeded >= dep.count {
			return true, ""
		}
		if live == 0 && !r.stopping {
			return false, fmt.Sprintf("%s ended without completing (%s)", name, exitWords(dep.lastExit))
		}
	case procfile.ConditionStarted:
		if dep.spawnedAll || dep.every(func(s *slot) bool { return s.everSpawned }) {
			return true, ""
		}
		if live == 0 && !r.stopping {
			return false, fmt.Sprintf("%s ended before it started (%s)", name, exitWords(dep.lastExit))
		}
	default: // ready
		if dep.readyAll || dep.every(func(s *slot) bool { return s.everReady }) {
			return true, ""
		}
		if live == 0 && !r.stopping {
			why := fmt.Sprintf("%s exited before it was ready (%s)", name, exitWords(dep.lastExit))
			if dep.lastExit.success() {
				why += fmt.Sprintf("; for a one-shot type, depend on it with %s = \"completed\"", name)
			}
			return false, why
		}
	}
	return false, ""
}

// exitWords is "exit status 1" or "signal SIGSEGV".
func exitWords(st exitStatus) string {
	if st.Signal != 0 {
		return st.String()
	}
	return "exit " + st.String()
}

// reached notes, after s was spawned or got ready, whether every worker of
// t has been: a condition once reached stays reached (until t is stopped or
// started again), so a one-shot that was ready and then exited still is.
func (t *ptype) reached(s *slot) {
	if s.t.slots[s.index] != s {
		return // a reload's replacement before it takes over
	}
	t.spawnedAll = t.spawnedAll || t.every(func(s *slot) bool { return s.everSpawned })
	t.readyAll = t.readyAll || t.every(func(s *slot) bool { return s.everReady })
}

// every reports whether each wanted worker of t has a slot for which ok holds.
func (t *ptype) every(ok func(*slot) bool) bool {
	for i := 1; i <= t.count; i++ {
		if s := t.slots[i]; s == nil || !ok(s) {
			return false
		}
	}
	return true
}

// unmet lists t's dependencies that are not there yet ("migrate completed"),
// and why one of them never will be ("" when all still may).
func (r *Runner) unmet(t *ptype) (list []string, why string) {
	for _, d := range t.p.DependsOn {
		dep := r.typeByName(d.Name)
		if dep == nil || dep == t {
			continue // not part of this run
		}
		met, w := r.depState(dep, d.Condition)
		if !met {
			list = append(list, d.Name+" "+string(d.Condition))
		}
		if w != "" && why == "" {
			why = w
		}
	}
	return list, why
}

// startType starts t's workers, or makes it wait for its dependencies;
// note ends the "starting" line (": new in the file").
func (r *Runner) startType(t *ptype, note string) {
	t.waiting, t.blocked, t.waitSaid = true, "", false
	r.checkWaiting()
	if !t.waiting {
		r.event(t.p.Name, "type_starting", fmt.Sprintf("starting %s (%s)%s", t.p.Name, plural(t.count, "worker"), note), 0, nil)
	}
}

// checkWaiting starts every waiting type whose dependencies are met, until
// nothing more can start, and reports the ones that never will.
func (r *Runner) checkWaiting() {
	for changed := true; changed; {
		changed = false
		for _, t := range r.types {
			if !t.waiting || t.stopped || t.removed {
				continue
			}
			list, why := r.unmet(t)
			if why != "" {
				if t.blocked != why {
					t.blocked = why
					failAll(t.startWaits, fmt.Sprintf("%s: not started: %s", t.p.Name, why))
					t.startWaits = nil
					r.event(t.p.Name, "not_started", fmt.Sprintf("%s: not started: %s", t.p.Name, why), 0, nil)
					if !r.opts.Watch {
						r.failNow = true
					}
					changed = true // its dependents are blocked too
				}
				continue
			}
			if t.blocked != "" {
				t.blocked = "" // revived (watch mode): it may start again
				changed = true
			}
			if len(list) > 0 {
				if !t.waitSaid {
					t.waitSaid = true
					r.event(t.p.Name, "waiting", fmt.Sprintf("%s waiting for %s", t.p.Name, strings.Join(list, ", ")), 0, map[string]any{"waiting_for": list})
				}
				continue
			}
			if r.stopping {
				continue
			}
			if t.waitSaid {
				r.event(t.p.Name, "deps_met", fmt.Sprintf("%s: %s: starting", t.p.Name, depsWords(t.p.DependsOn)), 0, nil)
			}
			r.launch(t)
			changed = true
		}
	}
}

// depsWords is "migrate completed, redis ready".
func depsWords(deps []procfile.Dependency) string {
	var parts []string
	for _, d := range deps {
		parts = append(parts, d.Name+" "+string(d.Condition))
	}
	return strings.Join(parts, ", ")
}

// launch makes and starts the missing slots of t.
func (r *Runner) launch(t *ptype) {
	t.waiting, t.blocked, t.waitSaid = false, "", false
	t.launched, t.succeeded, t.spawnedAll, t.readyAll = true, 0, false, false
	initial := r.readyWaiting[t]
	delete(r.readyWaiting, t)
	for i := 1; i <= t.count; i++ {
		if t.slots[i] != nil {
			continue
		}
		s := r.newSlot(t, i, false)
		t.slots[i] = s
		r.live[s] = true
		if initial && r.readyPending != nil {
			r.readyPending[s] = true
		}
		for _, w := range t.startWaits {
			r.watchSlot(s, w)
		}
		go s.run()
	}
	finishAll(t.startWaits) // each now waits for the slots instead
	t.startWaits = nil
	r.maybeReady()
}

// stopInOrder asks to stop every live worker that no live worker of
// another type depends on: dependents go first, and a dependency stops
// once they are gone (so web can reach redis while it drains).
func (r *Runner) stopInOrder() {
	held := map[string]bool{}
	seen := map[*ptype]bool{}
	for s := range r.live {
		if !seen[s.t] {
			seen[s.t] = true
			for _, d := range s.t.p.DependsOn {
				held[d.Name] = true
			}
		}
	}
	for s := range r.live {
		if !held[s.t.p.Name] {
			s.requestStop()
		}
	}
}
