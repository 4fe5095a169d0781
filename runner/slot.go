package runner

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cluster-run/cluster/procfile"
)

// healthyAfter is how long a run must last to reset the backoff (a var for tests).
var healthyAfter = 30 * time.Second

// quickExit is how short a run that exits 0 is when it does not reset the
// backoff: a worker that exits (or daemonises) at once is restarted with a
// growing delay, as pm2's min_uptime and systemd's start limit treat it,
// without counting as a crash (a var for tests).
var quickExit = time.Second

const (
	backoffMin = 100 * time.Millisecond
	backoffMax = 30 * time.Second

	outputGrace = 2 * time.Second // how long an exited worker's pipes may stay open (a child holds them)
)

// backoff returns the delay before restart number n (1-based): 100ms doubling
// to 30s, with ±20% jitter from rnd (a value in [0,1)) so crashing workers do
// not restart in lockstep.
func backoff(n int, rnd float64) time.Duration {
	d := backoffMin
	for i := 1; i < n && d < backoffMax; i++ {
		d *= 2
	}
	if d > backoffMax {
		d = backoffMax
	}
	j := time.Duration(float64(d) * (0.8 + 0.4*rnd))
	if j > backoffMax {
		j = backoffMax
	}
	return j.Round(time.Millisecond)
}

// State of a worker as status shows it.
type State string

const (
	StateStarting State = "starting"
	StateReady    State = "ready"
	StateStopping State = "stopping"
	StateBackoff  State = "backoff"
	StateFailed   State = "failed"
	StateExited   State = "exited"
)

// slot is one worker index of a process type. Its goroutine (run) owns the
// process and its lifecycle; others only call requestStop or read info.
type slot struct {
	r     *Runner
	t     *ptype
	index int
	name  string // "web.2"

	// p is the settings this slot's processes run with, fixed when the slot
	// is made: a reload that changes t.p rolls in new slots, and the old
	// ones still stop with their own stop_signal, stop_timeout and
	// kill_mode. at is t as it was then (count, file index, sockets), for
	// the environment; the slot goroutine never reads t's mutable fields.
	p  *procfile.Process
	at *ptype

	logs *logRing // the type's, for `cluster logs`

	trial bool // a reload's replacement: a failure before ready aborts the reload instead of restarting
	// Set and read by the supervisor goroutine only, for depends_on:
	everSpawned bool // a process of it was spawned ("started")
	everReady   bool // it was ready once ("ready")

	stop     chan struct{}
	stopOnce sync.Once

	// exited tells the supervisor, when shutdown_timeout passes, whether
	// this slot's process still runs (processesLeft): 0 while one is being
	// started or runs, the pid of the last one once it has exited (its
	// group may outlive it; its last lines may still wait for the output),
	// -1 when it could not start. Set by run only.
	exited atomic.Int64

	mu      sync.Mutex // guards what status reads while run updates it
	info    WorkerInfo
	backend *backend // proxy mode: the current process's backend
	cur     *proc    // the current process (attach finds its terminal)
	sampler sampler
	tail    tail
	cpu     float64
	rss     int64
	cpuSec  float64
}

// WorkerInfo is a snapshot of one worker for status.
type WorkerInfo struct {
	Name       string
	Process    string
	Index      int
	PID        int
	State      State
	Started    time.Time
	Restarts   int
	Last       *int   // last exit status; nil when it died of a signal
	LastSignal string // "SIGKILL" when a signal ended it
}

// newSlot makes the slot of worker index of t; the caller registers it and
// starts its goroutine.
func (r *Runner) newSlot(t *ptype, index int, trial bool) *slot {
	s := &slot{
		r: r, t: t, index: index, trial: trial,
		p:    t.p,
		at:   &ptype{p: t.p, portPlace: t.portPlace, count: t.count, listeners: t.listeners, pool: t.pool},
		name: t.p.Name + "." + strconv.Itoa(index),
		stop: make(chan struct{}),
		logs: t.ring(),
	}
	s.info = WorkerInfo{Name: s.name, Process: t.p.Name, Index: index, State: StateStarting}
	return s
}

func (s *slot) requestStop() { s.stopOnce.Do(func() { close(s.stop) }) }

// running reports whether a process of this slot may still run: it is
// being started or runs, or it has exited and left members of its group.
// A process that has exited while its last lines still wait to be copied
// (an output nobody reads) does not run.
func (s *slot) running() bool {
	switch pid := s.exited.Load(); {
	case pid == 0:
		return true
	case pid < 0:
		return false
	default:
		return groupAlive(int(pid))
	}
}

// retired reports whether the slot was asked to stop (shutdown, reload, scale).
func (s *slot) retired() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

func (s *slot) setInfo(f func(*WorkerInfo)) {
	s.mu.Lock()
	f(&s.info)
	s.mu.Unlock()
}

func (s *slot) run() {
	defer func() { s.r.slotDone <- s }()
	attempt := 0
	streak := 0 // crashes in a row: none of its runs in between was healthy or exited 0
	for {
		s.exited.Store(0)
		w, err := s.startShallow()
		var st exitStatus
		healthy := false
		ran := time.Duration(0) // how long the process ran
		stopped := false
		wasReady := false
		resource := false
		var notReady, startErr error
		if err != nil {
			startErr = err
			msg := fmt.Sprintf("%s could not start: %v", s.name, err)
			if resource = outOfResources(err); resource {
				msg += " (the system is out of resources; not counted as a crash of the app)"
			}
			s.exited.Store(-1)
			s.r.event(s.name, "exited", msg, 0, nil)
			st = exitStatus{Code: 127} // for the restart policy: a failure, never shown
		} else {
			s.r.spawned <- s
			st, stopped = s.supervise(w)
			s.exited.Store(int64(w.pid))
			wasReady = w.isReady.Load()
			// Healthy: ready, then running for healthyAfter. A worker that
			// never gets ready (killed at its ready.timeout) is not, however
			// long it ran.
			healthy = wasReady && time.Since(w.readyAt) >= healthyAfter
			ran = time.Since(w.started)
			notReady = w.notReady
			s.report(w, st)
		}
		s.setInfo(func(i *WorkerInfo) {
			i.State = StateExited
			i.PID = 0
			i.Last, i.LastSignal = nil, ""
			switch {
			case startErr != nil:
				// Nothing ran: there is no exit status to show.
			case st.Signal != 0:
				i.LastSignal = SignalName(st.Signal)
			default:
				code := st.Code
				i.Last = &code
			}
		})
		if stopped {
			return
		}
		if healthy || st.success() {
			// A clean exit ends a run of crashes as a healthy run does:
			// the next crash is the first in a row (a job that fails now
			// and then is not failed for it). restart_window still catches
			// one that alternates fast.
			streak = 0
			if healthy || ran >= quickExit {
				// ... and resets the backoff, but not when it came at once:
				// a worker that exits 0 (or daemonises) at start would
				// otherwise restart every 100 ms forever.
				attempt = 0
			}
		}
		if !resource && !st.success() {
			streak++
		}
		reply := make(chan decision, 1)
		s.r.exits <- exitReport{s: s, status: st, wasReady: wasReady, resource: resource, notReady: notReady, startErr: startErr, streak: streak, reply: reply}
		d := <-reply
		if !d.restart {
			if d.failed {
				s.setInfo(func(i *WorkerInfo) { i.State = StateFailed })
			}
			return
		}
		var delay time.Duration
		var msg string
		if d.clean {
			// restart = "always" and it exited 0: not a crash (the type
			// does not fail for it). After a run of quickExit or more, the
			// short fixed pause (systemd's RestartSec default); after a
			// shorter one, the backoff grows as for a crash.
			delay = backoffMin
			if ran < quickExit {
				attempt++
				delay = backoff(attempt, rand.Float64())
			}
			msg = fmt.Sprintf("%s exited cleanly after %s; restarting in %s (restart = \"always\")", s.name, runLength(ran), delay)
		} else {
			attempt++
			delay = backoff(attempt, rand.Float64())
			msg = fmt.Sprintf("%s restarting in %s", s.name, delay)
		}
		// Under s.mu, which stopBackoffs takes before a type's "failed" is
		// said: a restart it cancels is never announced after it.
		s.mu.Lock()
		if s.retired() {
			s.mu.Unlock()
			return
		}
		s.info.State = StateBackoff
		s.info.Restarts++
		s.r.event(s.name, "restarting", msg, 0, map[string]any{"delay_ms": delay.Milliseconds()})
		s.mu.Unlock()
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-s.stop:
			t.Stop()
			return
		case <-s.r.killAll:
			t.Stop()
			return
		}
	}
}

// runLength says how long a run lasted, for an event line: 12ms, 3.4s, 2m5s.
func runLength(d time.Duration) string {
	switch {
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// dirMissing reports whether dir, where a worker starts, is not there.
func dirMissing(dir string) bool {
	if dir == "" {
		return false
	}
	_, err := os.Stat(dir)
	return errors.Is(err, fs.ErrNotExist)
}

// outOfResources reports whether a spawn failed for lack of system
// resources (descriptors, processes, memory) rather than because of the app.
func outOfResources(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.EAGAIN, syscall.ENOMEM, syscall.ENOSPC} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

var addrInUse = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?i)address already in use|EADDRINUSE`) })

// worker is one running process of a slot.
type worker struct {
	*proc
	started   time.Time
	readyAt   time.Time // when it became ready; the slot goroutine only
	ready     <-chan error
	isReady   atomic.Bool
	cleanup   func()
	backend   *backend    // proxy mode
	port      int         // proxy mode: its private port
	addrInUse atomic.Bool // it printed "address already in use" before it was ready
	notReady  error       // why its readiness check failed; the slot goroutine only
}

// supervise waits for the worker to exit, handling readiness and stop
// requests. stopped is true when the exit was asked for.
func (s *slot) supervise(w *worker) (st exitStatus, stopped bool) {
	p := s.p
	ready := w.ready
	stop := s.stop
	for {
		select {
		case st = <-w.done:
			return st, stopped
		case err := <-ready:
			ready = nil
			if err != nil {
				w.notReady = err
				s.r.event(s.name, "failed", fmt.Sprintf("%s %v: killing it", s.name, err), w.pid, nil)
				signalGroup(w.pid, syscall.SIGKILL)
				continue
			}
			w.readyAt = time.Now()
			w.isReady.Store(true)
			s.setInfo(func(i *WorkerInfo) { i.State = StateReady })
			s.r.event(s.name, "ready", s.name+" ready", w.pid, nil)
			if w.backend != nil {
				s.t.pool.add(w.backend)
			}
			s.trial = false
			s.r.readyCh <- s
		case <-stop:
			stop = nil
			stopped = true
			s.setInfo(func(i *WorkerInfo) { i.State = StateStopping })
			if w.backend != nil {
				s.t.pool.drain(w.backend) // no new connections; open ones finish or are cut at stop_timeout
			}
			return s.terminate(w), true
		case <-s.r.killAll:
			s.r.killed.Store(true)
			signalGroup(w.pid, syscall.SIGKILL)
			return <-w.done, true
		}
		_ = p
	}
}

// terminate stops a running worker: stop_signal per kill_mode, then
// SIGKILL to the whole group stop_timeout after the stop began. In proxy
// mode the requests already sent to it get a short moment to be answered
// (accepted) first, within the same stop_timeout.
func (s *slot) terminate(w *worker) exitStatus {
	p := s.p
	deadline := time.NewTimer(p.StopTimeout)
	defer deadline.Stop()
	if w.backend != nil {
		w.backend.settle(min(settleMax, p.StopTimeout/2), s.r.killAll)
	}
	s.signalStop(w.pid, p.KillMode != procfile.KillMixed)
	var st exitStatus
	select {
	case st = <-w.done:
	case <-deadline.C:
		s.r.killedAtStop()
		s.r.event(s.name, "killed", fmt.Sprintf("%s did not stop within %s: SIGKILL", s.name, p.StopTimeout), w.pid, nil)
		signalGroup(w.pid, syscall.SIGKILL)
		return <-w.done
	case <-s.r.killAll:
		s.r.killed.Store(true)
		signalGroup(w.pid, syscall.SIGKILL)
		return <-w.done
	}
	// The leader is gone; its group may not be.
	if !groupAlive(w.pid) {
		return st
	}
	if p.KillMode == procfile.KillMixed {
		signalGroup(w.pid, syscall.SIGKILL) // mixed: what the leader left behind is killed
		return st
	}
	for groupAlive(w.pid) {
		select {
		case <-deadline.C:
			s.r.killedAtStop()
			s.r.event(s.name, "killed", fmt.Sprintf("%s: children did not stop within %s: SIGKILL", s.name, p.StopTimeout), w.pid, nil)
			signalGroup(w.pid, syscall.SIGKILL)
			return st
		case <-s.r.killAll:
			s.r.killed.Store(true)
			signalGroup(w.pid, syscall.SIGKILL)
			return st
		case <-time.After(pollInterval):
		}
	}
	return st
}

// signalStop sends stop_signal to the worker's group (or to pid alone),
// then SIGCONT, as systemd does: a stopped worker (`cluster signal web
// STOP`, a debugger) would otherwise get it only when it is SIGKILLed.
func (s *slot) signalStop(pid int, group bool) {
	send := func(sig syscall.Signal) {
		if group {
			signalGroup(pid, sig)
		} else {
			syscall.Kill(pid, sig)
		}
	}
	send(s.p.StopSignal)
	if s.p.StopSignal != syscall.SIGCONT && s.p.StopSignal != syscall.SIGKILL {
		send(syscall.SIGCONT)
	}
}

// report waits (boundedly) for the worker's last output, prints its exit
// event and releases what it held.
func (s *slot) report(w *worker, st exitStatus) {
	copied := make(chan struct{})
	go func() { w.copied.Wait(); close(copied) }()
	if s.r.halting.Load() {
		select {
		case <-copied:
		default:
			// The cluster is stopping and the worker is gone: what of it
			// left its group (setsid) and holds its output is stopped now,
			// not after outputGrace and every other worker's report. Only
			// this worker's: a sibling still draining keeps its own.
			s.r.stopEscapees(s.p.Name, s.index, s.p.StopSignal)
		}
	}
	grace := time.NewTimer(outputGrace)
	select {
	case <-copied:
	case <-grace.C:
		// A child of the worker still holds its stdout: keep copying in the
		// background; Run waits for it after every descendant is gone.
	case <-s.r.hardStop:
	}
	grace.Stop()
	var status *int
	msg := ""
	sig := ""
	if st.Signal != 0 {
		sig = SignalName(st.Signal)
		msg = fmt.Sprintf("%s exited (signal %s)", s.name, sig)
	} else {
		c := st.Code
		status = &c
		msg = fmt.Sprintf("%s exited (status %d)", s.name, c)
	}
	s.r.emit(Event{Worker: s.name, Event: "exited", PID: w.pid, Status: status, Signal: sig, Message: msg})
	if w.backend != nil {
		s.t.pool.drain(w.backend)
	}
	if !w.isReady.Load() && w.addrInUse.Load() && s.at.inherit() {
		s.r.event(s.name, "hint", fmt.Sprintf("%s: the app bound the port itself (address already in use) instead of using the shared socket at fd 3 (LISTEN_FDS); take fd 3, or set socket = \"proxy\" so it gets its own $PORT", s.name), w.pid, nil)
	}
	s.r.background.Add(1)
	go func() {
		defer s.r.background.Done()
		// What is left of the group is stopped first: a child that holds the
		// worker's stdout would otherwise keep it from EOF, and itself alive,
		// until the cluster stops. Its last lines are still copied.
		s.stopGroup(w)
		<-copied
		s.release(w)
	}()
}

// stopGroup makes sure nothing of an exited worker's group outlives it:
// stop_signal to what is left, SIGKILL after stop_timeout (or at once on
// Kill).
func (s *slot) stopGroup(w *worker) {
	if groupAlive(w.pid) {
		s.signalStop(w.pid, true)
		deadline := time.NewTimer(s.p.StopTimeout)
	wait:
		for groupAlive(w.pid) {
			select {
			case <-deadline.C:
				break wait
			case <-s.r.killAll:
				break wait
			case <-time.After(pollInterval):
			}
		}
		deadline.Stop()
		if groupAlive(w.pid) {
			signalGroup(w.pid, syscall.SIGKILL)
		}
	}
}

// release frees an exited worker's terminal and other per-process
// resources, once its group is gone and its output copied.
func (s *slot) release(w *worker) {
	w.release()
	if w.cleanup != nil {
		w.cleanup()
	}
	if w.port != 0 {
		s.r.ports.put(w.port)
	}
}

// startShallow runs start on a goroutine of its own. Starting a worker
// takes a deep stack (the environment, the fork, the output set-up), and a
// goroutine keeps the stack it grew for as long as it lives: run, which then
// waits out the worker's whole life in supervise, would hold one such stack
// per worker (about 0.35 MiB of the runner's RSS with 32 idle workers).
func (s *slot) startShallow() (*worker, error) {
	var w *worker
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		w, err = s.start()
	}()
	<-done
	return w, err
}

// start spawns the worker process with its environment, output and readiness.
func (s *slot) start() (*worker, error) {
	t := s.at
	p := t.p
	env := s.r.workerEnv(t, s.index)
	port := 0
	var extra []int
	if t.proxy() {
		var err error
		if port, err = s.r.ports.get(); err != nil {
			return nil, err
		}
		env = append(env, "PORT="+strconv.Itoa(port))
	} else if t.inherit() {
		var names []string
		for _, l := range t.listeners {
			extra = append(extra, l.FD())
			names = append(names, listenerName(p, l.Addr))
		}
		env = append(env, "LISTEN_FDS="+strconv.Itoa(len(extra)), "LISTEN_FDNAMES="+strings.Join(names, ":"))
	}
	rd := newReadiness(p, env)
	env = append(env, rd.env...)
	w := &worker{port: port, cleanup: rd.close}
	if port != 0 {
		w.backend = &backend{name: s.name, port: strconv.Itoa(port)}
	}
	onLine := func(line []byte) {
		s.tail.add(line)
		rd.onLine(line)
		if t.inherit() && !w.isReady.Load() && addrInUse().Match(line) {
			w.addrInUse.Store(true)
		}
	}
	stream := func(pid int, name string, code uint8, pending func() bool) io.WriteCloser {
		ls := &loggedStream{}
		ls.WriteCloser = s.r.out.Stream(Stream{Process: p.Name, Worker: s.index, PID: pid, Stream: name, Pending: pending, OnLine: func(line []byte) {
			s.logs.add(s.index, pid, code, ls.at.Load(), line)
			onLine(line)
		}})
		return ls
	}
	fail := func(err error) (*worker, error) {
		rd.close()
		if port != 0 {
			s.r.ports.put(port)
		}
		return nil, err
	}
	path, argv, err := s.r.resolveArgv(t, env)
	if err != nil {
		return fail(err)
	}
	cred, err := credential(p.User)
	if err != nil {
		return fail(fmt.Errorf("user %w", err))
	}
	spec := spawnSpec{
		self:      s.r.opts.Self,
		path:      path,
		argv:      argv,
		env:       env,
		dir:       p.Dir,
		cred:      cred,
		extra:     extra,
		listenPID: len(extra) > 0,
		noPTY:     s.r.opts.NoPTY,
		ttyStdio:  p.TTY,
		pipes:     &s.r.pipes,
		noTerminal: func(err error) {
			s.r.noTerminal.Do(func() { s.r.Log(noTerminalMessage(err)) })
		},
		output: func(pid int, tty bool, pending [3]func() bool) (o, e, t io.WriteCloser) {
			o = stream(pid, "stdout", streamStdout, pending[0])
			e = stream(pid, "stderr", streamStderr, pending[1])
			if tty {
				t = stream(pid, "tty", streamTTY, pending[2])
			}
			return o, e, t
		},
	}
	pr, err := spawn(s.r.rp, spec)
	if err != nil {
		var shim shimError
		switch {
		case errors.Is(err, syscall.ENOENT) && dirMissing(p.Dir):
			// The child's chdir failed (rm -rf app while a build makes it
			// again): say so, not a bare "no such file or directory", nor
			// the program's name, which the spawn error names (the
			// program is there; its dir is not). Still ENOENT for callers.
			err = fmt.Errorf("dir %s: %w", p.Dir, syscall.ENOENT)
		case p.User == "" || !errors.Is(err, syscall.EACCES):
		case errors.As(err, &shim):
			// The worker starts through the cluster binary itself: it
			// must be where that user may run it.
			err = fmt.Errorf("%s (the cluster binary, which starts this worker): %w as user %s: install cluster where that user may run it", shim.self, shim.err, p.User)
		default:
			// The runner found the program; the user may not reach it (a
			// PATH entry under root's home, say).
			err = fmt.Errorf("%s: %w as user %s (dir %s)", path, err, p.User, p.Dir)
		}
		return fail(err)
	}
	now := time.Now()
	s.setInfo(func(i *WorkerInfo) { i.PID = pr.pid; i.State = StateStarting; i.Started = now })
	s.r.event(s.name, "started", fmt.Sprintf("%s started (pid %d)", s.name, pr.pid), pr.pid, nil)
	w.proc, w.started = pr, now
	s.mu.Lock()
	s.backend = w.backend
	s.cur = pr
	s.sampler = sampler{}
	s.mu.Unlock()
	w.ready = rd.wait(pr.done)
	return w, nil
}

// loggedStream is one output stream of a worker as the runner copies it: it
// notes the time of each read from the pipe, which the lines of that read
// carry into the type's log ring (one clock read per read, not per line).
type loggedStream struct {
	io.WriteCloser
	at atomic.Int64 // unix nanoseconds; the flush timer of a partial line reads it too
}

func (l *loggedStream) Write(p []byte) (int, error) {
	l.at.Store(time.Now().UnixNano())
	return l.WriteCloser.Write(p)
}

// foremanPort is the PORT this slot's worker gets when its type has no
// listen, else 0.
func (s *slot) foremanPort() int {
	return s.r.foremanPort(s.at, s.index)
}
