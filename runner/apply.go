package runner

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/cluster-run/cluster/procfile"
)

// Diff is what Apply did to the running cluster.
type Diff struct {
	Added   []string // types that started
	Removed []string // types that are stopping (their sockets close after their last worker; proxy mode: at once)
	Changed []string // types whose settings changed (rolled onto them)
	Scaled  []string // "web: 2 -> 4"
	Rolled  []string // every type a rolling reload was queued for
	Restart []string // what changed but needs a restart of the cluster: "name", "web: listen"
}

// ReloadConfig re-reads the file with Options.Reread and applies it (see
// Apply), then rolls the named types too, every type when all is set: the
// `cluster reload` and SIGHUP path. Without Options.Reread it only rolls.
// An error leaves the cluster as it was; each line of it is also printed
// as an event, as check prints it.
func (r *Runner) ReloadConfig(names []string, all bool) (Diff, error) {
	d, _, err := r.reloadConfig(names, all, false)
	return d, err
}

// ReloadConfigWait is ReloadConfig that also returns a Wait on the reload
// it started (nil with the error): `cluster reload --wait`.
func (r *Runner) ReloadConfigWait(names []string, all bool) (Diff, *Wait, error) {
	return r.reloadConfig(names, all, true)
}

func (r *Runner) reloadConfig(names []string, all, wait bool) (Diff, *Wait, error) {
	if r.opts.Reread == nil {
		if all {
			names = nil
		}
		w, err := r.reload(names, wait)
		return Diff{}, w, err
	}
	cfg, err := r.opts.Reread()
	if err == nil {
		return r.apply(cfg, names, all, wait)
	}
	r.configError(err)
	return Diff{}, nil, err
}

// ApplyFile re-reads the file with Options.Reread and applies it as Apply
// does, rolling only the types whose settings changed: what saving the
// Clusterfile (or one of its env files) does in watch mode. It returns the
// configuration now in force; on an error nothing changed, the error's lines
// were printed as events, and the configuration is nil.
func (r *Runner) ApplyFile() (*procfile.Config, Diff, error) {
	if r.opts.Reread == nil {
		return nil, Diff{}, errors.New("no file to re-read")
	}
	cfg, err := r.opts.Reread()
	if err != nil {
		r.configError(err)
		return nil, Diff{}, err
	}
	d, _, err := r.apply(cfg, nil, false, false)
	if err != nil {
		return nil, d, err
	}
	return cfg, d, nil
}

// Apply makes the running cluster match cfg, a new load of the same file:
// a new type starts, a removed one stops gracefully, a changed `workers`
// scales, and a type whose settings changed gets a rolling reload onto them
// (running workers keep the settings they were started with until they are
// replaced). The types named in roll are rolled too, changed or not.
// Settings that cannot change live are reported in an event and in
// Diff.Restart; the rest of the file still applies. Every check New makes
// runs first: on an error nothing changes, and each line of it is printed
// as an event.
func (r *Runner) Apply(cfg *procfile.Config, roll []string) (Diff, error) {
	d, _, err := r.apply(cfg, roll, false, false)
	return d, err
}

func (r *Runner) apply(cfg *procfile.Config, roll []string, all, wait bool) (Diff, *Wait, error) {
	// One apply at a time, Applied included: a reload and a watched save at
	// once must tell main of the files in the order they were put in force.
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	opts := r.opts
	opts.Config = cfg
	next, err := prepare(opts)
	if err != nil {
		r.configError(err)
		return Diff{}, nil, err
	}
	for _, n := range roll {
		if next.typeByName(n) == nil {
			return Diff{}, nil, fmt.Errorf("unknown process type %q (have %s)", n, processNames(cfg))
		}
	}
	// The types the cluster never had get the next colours before any of
	// them starts, whether or not this apply goes through: main's output
	// has them then, and `cluster logs` must give the same.
	var colors []string
	for _, p := range cfg.Processes {
		if !slices.Contains(r.colorOrder, p.Name) {
			colors = append(colors, p.Name)
		}
	}
	if len(colors) > 0 && r.opts.Adding != nil {
		r.opts.Adding(colors)
	}
	var d Diff
	var w *Wait
	var aerr error
	err = r.ask(func() {
		r.colorOrder = append(r.colorOrder, colors...)
		if wait {
			w = r.newWait()
		}
		d, aerr = r.applyTypes(cfg, next.types, roll, all, w)
		if aerr != nil {
			w.fail(aerr.Error())
		}
		w.arm()
	})
	if err != nil {
		return Diff{}, nil, err
	}
	if aerr != nil && !errors.Is(aerr, ErrNotRunning) {
		r.configError(aerr) // a socket of a new type could not be bound
	}
	if aerr != nil {
		w = nil
	}
	if aerr == nil && r.opts.Applied != nil {
		r.opts.Applied(cfg)
	}
	return d, w, aerr
}

// configError prints a rejected file's errors, one event per line.
func (r *Runner) configError(err error) {
	for _, line := range strings.Split(strings.TrimRight(err.Error(), "\n"), "\n") {
		r.event("", "config_error", line, 0, nil)
	}
	r.event("", "config_error", "the file has errors: nothing changed", 0, nil)
}

// applyTypes runs on the supervisor goroutine. next are the types of the
// new file as prepare made them (counts with -w applied, 0-worker types left
// out). w (nil: nobody waits) is attached to every rolling reload and every
// new worker this starts.
func (r *Runner) applyTypes(cfg *procfile.Config, next []*ptype, roll []string, all bool, w *Wait) (Diff, error) {
	var d Diff
	if r.stopping {
		return d, ErrNotRunning
	}
	// Bind the sockets of new types first: a failure there changes nothing.
	var added []*ptype
	for _, nt := range next {
		if r.typeByName(nt.p.Name) == nil {
			added = append(added, nt)
		}
	}
	for _, nt := range added {
		if err := r.bindType(nt, nil); err != nil {
			for _, a := range added {
				a.closeListeners()
			}
			return d, err
		}
	}
	// Then the new addresses of types whose listen changed: bound before
	// anything else changes, so a failure still changes nothing.
	rebinds := map[*ptype]*rebind{}
	for _, nt := range next {
		t := r.typeByName(nt.p.Name)
		if t == nil || !relisten(t.p, nt.p) {
			continue
		}
		rb, err := bindNew(t, nt.p)
		if err != nil {
			for _, a := range added {
				a.closeListeners()
			}
			for _, rb := range rebinds {
				rb.undo()
			}
			return d, fmt.Errorf("%s: %w", nt.p.Name, err)
		}
		rebinds[t] = rb
	}
	for _, nt := range added {
		if err := r.startProxy(nt); err != nil {
			for _, a := range added {
				close(a.gone)
				a.closeListeners()
			}
			for _, rb := range rebinds {
				rb.undo()
			}
			return d, err
		}
	}

	restart := func(what string) {
		d.Restart = append(d.Restart, what)
		r.event("", "config_restart", what+" changed: restart the cluster to apply", 0, nil)
	}
	old := r.opts.Config
	if cfg.Name != old.Name {
		restart("name") // the control socket's fallback location and status's name derive from it
	}
	if cfg.ShutdownTimeout != r.shutdownTimeout {
		r.shutdownTimeout = cfg.ShutdownTimeout
	}

	var types []*ptype
	for _, nt := range next {
		t := r.typeByName(nt.p.Name)
		if t == nil {
			types = append(types, nt)
			continue
		}
		types = append(types, t)
		name := t.p.Name
		if slices.Contains(roll, name) {
			failStopped(t, w)
		}
		relistened := rebinds[t] != nil
		if relistened {
			r.switchListeners(t, rebinds[t])
			np := *t.p // the new socket list is in force; the rest switches below
			np.Listen = nt.p.Listen
			t.p = &np
		}
		if !slices.Equal(t.p.Listen, nt.p.Listen) || t.p.Socket != nt.p.Socket {
			restart(name + ": listen") // its old sockets and settings stay
		} else if r.opts.Watch && r.opts.Applied == nil && !sameWatch(t.p, nt.p) {
			restart(name + ": watch")
		}
		if slices.Equal(t.p.Listen, nt.p.Listen) && t.p.Socket == nt.p.Socket {
			changed := relistened || !sameSettings(t.p, nt.p) || (len(t.p.Listen) == 0 && t.portPlace != nt.portPlace)
			wasCount := t.p.Workers
			if n, ok := WorkerCount(r.opts.Workers, name); ok {
				wasCount = n
			}
			t.p, t.portPlace = nt.p, nt.portPlace
			if changed {
				d.Changed = append(d.Changed, name)
			}
			if nt.count != wasCount && nt.count != t.count {
				d.Scaled = append(d.Scaled, fmt.Sprintf("%s: %d -> %d", name, t.count, nt.count))
				from := t.count
				r.scale(t, nt.count)
				for i := from + 1; i <= nt.count && !t.stopped; i++ {
					r.watchSlot(t.slots[i], w)
				}
			}
			if changed {
				r.queueReload(t, nil, w)
				d.Rolled = append(d.Rolled, name)
				continue
			}
		}
		if all || slices.Contains(roll, name) {
			r.queueReload(t, nil, w)
			d.Rolled = append(d.Rolled, name)
		}
	}
	for _, t := range r.types {
		if !slices.Contains(types, t) {
			d.Removed = append(d.Removed, t.p.Name)
			r.removeType(t)
		}
	}
	r.types = types
	for _, t := range added {
		d.Added = append(d.Added, t.p.Name)
		r.startType(t, ": new in the file")
		if t.waiting && w != nil {
			w.add() // its workers start when its dependencies allow: launch moves the Wait onto them
			t.startWaits = append(t.startWaits, w)
		}
		for _, s := range t.slots {
			r.watchSlot(s, w)
		}
	}
	r.checkWaiting() // a type whose depends_on changed may start now
	r.watchMemory()
	r.event("", "config_applied", d.String(), 0, nil)
	r.nextReload()
	return d, nil
}

// relisten: a, running, can move to b's listen addresses live: both share
// sockets the same way and only the addresses differ.
func relisten(a, b *procfile.Process) bool {
	return a.Socket == b.Socket && len(a.Listen) > 0 && len(b.Listen) > 0 && !slices.Equal(a.Listen, b.Listen)
}

// rebind is a type's move to new listen addresses, bound but not in force.
type rebind struct {
	listeners []*Listener // in the order of the new listen list
	fresh     []*Listener // bound for the move
	retired   []*Listener // the type's sockets the new list drops
	revived   []*Listener // retired sockets the new list takes back
}

func sameAddr(a, b procfile.Address) bool { return a.Network == b.Network && a.Addr == b.Addr }

// bindNew binds the addresses of p.Listen that t has no socket for yet; the
// ones it has are kept (binding them again would fail: no SO_REUSEPORT).
func bindNew(t *ptype, p *procfile.Process) (*rebind, error) {
	rb := &rebind{}
	for _, a := range p.Listen {
		var l *Listener
		for _, old := range t.listeners {
			if sameAddr(old.Addr, a) {
				l = old
			}
		}
		for _, old := range t.retired {
			if l == nil && sameAddr(old.Addr, a) {
				l = old // dropped by an earlier file, still held by an old worker: back in use
				rb.revived = append(rb.revived, old)
			}
		}
		if l == nil {
			var err error
			if l, err = Listen(a); err != nil {
				rb.undo()
				return nil, err
			}
			rb.fresh = append(rb.fresh, l)
		}
		rb.listeners = append(rb.listeners, l)
	}
	for _, old := range t.listeners {
		if !slices.Contains(rb.listeners, old) {
			rb.retired = append(rb.retired, old)
		}
	}
	return rb, nil
}

func (rb *rebind) undo() {
	for _, l := range rb.fresh {
		l.Close()
	}
}

// switchListeners puts a rebind in force: new workers get the new sockets
// (the type is rolled by the caller). In proxy mode the runner accepts on
// the new ones at once and stops accepting on the dropped ones; in inherit
// mode the dropped ones stay open while a worker that was given them lives,
// so nothing queued on them is refused before its last worker goes.
func (r *Runner) switchListeners(t *ptype, rb *rebind) {
	names := make([]string, len(rb.fresh))
	for i, l := range rb.fresh {
		names[i] = l.Addr.Raw
	}
	t.listeners = rb.listeners
	t.retired = slices.DeleteFunc(t.retired, func(l *Listener) bool { return slices.Contains(rb.revived, l) })
	if t.proxy() {
		if err := r.startProxyOn(t, rb.fresh); err != nil {
			r.event(t.p.Name, "config_error", fmt.Sprintf("%s: %v", t.p.Name, err), 0, nil)
		}
		for _, l := range rb.retired {
			if stop := t.proxyStop[l]; stop != nil {
				close(stop)
				delete(t.proxyStop, l)
			}
			l.Close()
		}
	} else {
		t.retired = append(t.retired, rb.retired...)
	}
	msg := fmt.Sprintf("%s: listening on %s", t.p.Name, strings.Join(names, ", "))
	if len(names) == 0 {
		msg = fmt.Sprintf("%s: the listen list changed", t.p.Name)
	}
	if len(rb.retired) > 0 {
		old := make([]string, len(rb.retired))
		for i, l := range rb.retired {
			old[i] = l.Addr.Raw
		}
		if t.proxy() {
			msg += "; closed " + strings.Join(old, ", ")
		} else {
			msg += "; " + strings.Join(old, ", ") + " closes after the last worker that has it"
		}
	}
	r.event(t.p.Name, "relisten", msg, 0, nil)
	r.closeRetired(t)
}

// closeRetired closes the retired sockets of t that no live worker holds.
// Supervisor goroutine.
func (r *Runner) closeRetired(t *ptype) {
	if len(t.retired) == 0 {
		return
	}
	held := map[*Listener]bool{}
	for s := range r.live {
		if s.t == t {
			for _, l := range s.at.listeners {
				held[l] = true
			}
		}
	}
	kept := t.retired[:0]
	for _, l := range t.retired {
		if held[l] {
			kept = append(kept, l)
			continue
		}
		l.Close()
		r.event(t.p.Name, "socket_closed", fmt.Sprintf("%s: closed %s (its last worker is gone)", t.p.Name, l.Addr.Raw), 0, nil)
	}
	t.retired = kept
}

// String is the one-line summary of a Diff.
func (d Diff) String() string {
	var parts []string
	add := func(what string, names []string) {
		if len(names) > 0 {
			parts = append(parts, what+" "+strings.Join(names, ", "))
		}
	}
	add("added", d.Added)
	add("removed", d.Removed)
	add("changed", d.Changed)
	add("scaled", d.Scaled)
	add("reloading", d.Rolled)
	if len(parts) == 0 {
		return "file re-read: nothing to do"
	}
	return "file re-read: " + strings.Join(parts, "; ")
}

// removeType stops every worker of a type gone from the file; its sockets
// close once the last one is gone (removedSlotDone), or at once in proxy
// mode: its workers do not hold them, and a connection must not wait for a
// worker that never comes. Supervisor goroutine.
func (r *Runner) removeType(t *ptype) {
	t.removed = true
	if t.proxy() {
		t.unbind()
	}
	delete(r.readyWaiting, t)
	r.dropReloads(t, fmt.Sprintf("reload of %s aborted: the type was removed from the file", t.p.Name))
	failAll(t.startWaits, fmt.Sprintf("%s was removed from the file before it started", t.p.Name))
	t.startWaits = nil
	r.event(t.p.Name, "type_stopping", fmt.Sprintf("stopping %s: removed from the file", t.p.Name), 0, nil)
	n := 0
	for s := range r.live {
		if s.t == t {
			s.requestStop()
			n++
		}
	}
	if n == 0 {
		r.closeRemoved(t)
	}
}

// removedSlotDone closes a removed type's sockets after its last worker.
func (r *Runner) removedSlotDone(s *slot) {
	if !s.t.removed {
		return
	}
	for o := range r.live {
		if o.t == s.t {
			return
		}
	}
	r.closeRemoved(s.t)
}

func (r *Runner) closeRemoved(t *ptype) {
	t.unbind()
	r.event(t.p.Name, "type_removed", fmt.Sprintf("%s stopped and removed", t.p.Name), 0, nil)
}

// sameSettings compares what a worker is started and stopped with: all
// but the count (applied by scaling), the line and the watch settings
// (main's watchers).
func sameSettings(a, b *procfile.Process) bool {
	x, y := *a, *b
	for _, p := range []*procfile.Process{&x, &y} {
		p.Line, p.Workers, p.WorkersAuto = 0, 0, false
		p.Watch, p.WatchIgnore, p.WatchPoll = nil, nil, 0
		p.Ready.Log = nil
		p.EnvFrom = nil // where a value was written is no setting (a line added above it moves it)
	}
	return reflect.DeepEqual(x, y) && regexpString(a) == regexpString(b) && slices.Equal(ownVars(a), ownVars(b))
}

// ownVars lists the variables p's own env and env_file set, sorted.
func ownVars(p *procfile.Process) []string {
	var out []string
	for k, src := range p.EnvFrom {
		if src.Own {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func regexpString(p *procfile.Process) string {
	if p.Ready.Log == nil {
		return ""
	}
	return p.Ready.Log.String()
}

func sameWatch(a, b *procfile.Process) bool {
	return slices.Equal(a.Watch, b.Watch) && slices.Equal(a.WatchIgnore, b.WatchIgnore) && a.WatchPoll == b.WatchPoll
}
