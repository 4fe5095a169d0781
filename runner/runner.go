package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cluster-run/cluster/procfile"
)

// Errors Run returns; main maps them to exit statuses.
var (
	// ErrFailed: a process type failed for good (crash loop past its limit, or
	// restart = "never" and it failed).
	ErrFailed = errors.New("a process type failed")
	// ErrKilled: a worker (or one of its children) ignored its stop signal and
	// had to be SIGKILLed.
	ErrKilled = errors.New("a worker had to be killed")
	// ErrNotRunning: a request reached a runner that is stopping or stopped.
	ErrNotRunning = errors.New("the cluster is not running")
)

// Output is where worker output and runner events go (logmux in the binary).
type Output interface {
	// Stream returns a line-buffered writer for one stream of one worker;
	// Close flushes it.
	Stream(s Stream) io.WriteCloser
	// Event prints one runner event line. It may block (an output nobody
	// reads): the runner calls it one event at a time, never from the
	// supervisor or a worker's goroutine.
	Event(e Event)
}

// Stream names one output stream of one worker process.
type Stream struct {
	Process string
	Worker  int
	PID     int
	Stream  string            // "stdout" or "stderr"
	OnLine  func(line []byte) // called once per line as printed (each 64 KiB piece of a longer one); must not keep line
	// Pending reports whether more of this stream's bytes wait in its pipe
	// (or terminal) to be read, so that a partial line is not printed on
	// its own while the rest of it is already there.
	Pending func() bool
}

// Event is one runner event: started, ready, exited, restarting, failed, ...
type Event struct {
	Worker  string // "web.2", or "" for the cluster as a whole
	Event   string
	PID     int
	Status  *int
	Signal  string
	Message string // the human line, e.g. "exited (status 3)"
	Fields  map[string]any
}

// Options configure a Runner.
type Options struct {
	Config   *procfile.Config
	Only     []string       // process types to run, empty: all
	Workers  map[string]int // worker counts that override the file (-w; "all": every type not named, see WorkerCount)
	PortBase int            // foreman PORT base, 0: 5000
	Color    bool           // the runner prints in color: set FORCE_COLOR/CLICOLOR_FORCE
	Output   Output
	Self     string // the cluster binary (re-executed as the exec shim); "": os.Executable()
	// ReapAll: this process owns every child it has (the cluster binary):
	// reap orphans re-parented to it too. Must be the same for every Runner
	// of a process. Linux only: elsewhere (and with -tags portable) no
	// orphan is re-parented to us and each child is waited for by pid.
	ReapAll bool
	// Watch: a type that fails waits for Revive instead of stopping the cluster.
	Watch bool
	// NoPTY disables the per-worker controlling terminal (see doc.go).
	NoPTY bool
	// Reread loads the file again as it was loaded for Config (the same
	// path and -e files), for ReloadConfig; nil: a reload only rolls.
	Reread func() (*procfile.Config, error)
	// Applied, when set, is called with each configuration Apply (or a
	// reload's re-read) put in force, after the change was made: main moves
	// its file watchers onto the new file's watch settings with it.
	Applied func(*procfile.Config)
	// Adding, when set, is called by Apply (and a reload's or a watched
	// save's re-read) with the types of the new file the cluster has never
	// had, in file order, before any of them starts: main gives them the
	// next colours, as `cluster logs` will (LogFeed.Processes). It is not
	// called on the supervisor goroutine and may block.
	Adding func(names []string)
}

// Runner supervises the workers of one Config. Use New, then Run once.
type Runner struct {
	opts  Options
	out   Output // worker output; events go through events
	rp    *reaper
	types []*ptype

	events    emitter      // the runner's events, written off the supervisor (events.go)
	unwritten atomic.Int64 // events Run could not write before it returned

	killAll  chan struct{} // closed by Kill: stop everything now
	killOnce sync.Once
	killed   atomic.Bool // some process had to be SIGKILLed at stop
	halting  atomic.Bool // the cluster is stopping (stop ran): a SIGKILL now counts

	// execMu guards the running `-- COMMAND` (Exec): its pid (not a
	// leftover when the cluster ends before it), its name, and where Stop
	// asks it to stop.
	noTerminal sync.Once // a worker started without a pseudo-terminal: said once

	// escapees are the leftovers that got their stop signal (stopEscapees,
	// reapLeftovers): each gets it once.
	escapeesMu sync.Mutex
	escapees   map[int]bool

	execMu     sync.Mutex
	execPid    int
	execName   string
	execStop   chan struct{}
	execStopAt time.Time // when `cluster stop` stopped COMMAND: the cluster's stop ends shutdown_timeout after it

	exits    chan exitReport
	slotDone chan *slot
	readyCh  chan *slot
	spawned  chan *slot // a slot's process was spawned (depends_on "started")
	requests chan func()
	finished chan struct{} // closed when Run returns

	// Owned by the supervisor goroutine (Run).
	live          map[*slot]bool
	stopping      bool
	plan          *reloadPlan
	reloadQueue   []reloadReq
	stopRequested bool              // cluster stop: a graceful stop that exits 0
	waits         map[*Wait]bool    // reload --wait requests not ended (reloadwait.go)
	cycle         *Wait             // every reload queued since the last "reload_finished" (reloadwait.go)
	slotWaits     map[*slot][]*Wait // new workers a Wait needs ready

	shutdownTimeout time.Duration // the file's shutdown_timeout; Apply may change it
	memoryWatched   bool          // watchMemory runs

	readyPending map[*slot]bool  // initial slots not ready yet; nil once Ready answered
	applyMu      sync.Mutex      // serialises apply (see there)
	readyWaiting map[*ptype]bool // initial types still waiting for their dependencies
	failNow      bool            // a type will never start (depends.go): stop with ErrFailed
	readyResult  chan error

	// colorOrder is every type the cluster has had, in the order it first
	// had them: its first file's, then each apply's new ones in file order.
	// A type's colour is its place here (a removed type keeps its place),
	// so an existing type keeps its colour across reloads. apply writes it
	// on the supervisor goroutine, holding applyMu, and reads it holding
	// applyMu; OpenLogs reads it on the supervisor goroutine.
	colorOrder []string

	ports    ports
	loopDone chan struct{} // closed when the supervisor loop ends: no more requests
	giveUp   time.Duration // proxyGiveUp when 0 (the tests shorten it)

	background sync.WaitGroup // log copiers, leftover-group reapers, proxies

	shutdown // the bounded end of Run (shutdown.go)
}

// ptype is one process type; its fields are owned by the supervisor goroutine.
type ptype struct {
	p         *procfile.Process
	portPlace int // place in foreman's PORT scheme (portPlace)
	count     int // wanted workers
	crashes   []time.Time
	failed    bool
	stopped   bool // `cluster stop web`: no workers until `cluster start web`; sockets stay bound
	reloads   int
	slots     map[int]*slot // the serving slot of each worker index

	// depends_on (depends.go)
	waiting    bool       // its workers wait for its dependencies: no slot yet
	waitSaid   bool       // the "waiting for" event was printed
	blocked    string     // why it will never start ("migrate failed (exit status 1)"), printed once
	startWaits []*Wait    // reload --wait on a new type still waiting: moved onto its slots at launch
	launched   bool       // its slots were made (reset by cluster stop TYPE)
	spawnedAll bool       // every worker was spawned once since: "started" was reached
	readyAll   bool       // every worker was ready once since: "ready" was reached
	succeeded  int        // workers that exited 0 and are not restarted (depends_on "completed")
	lastExit   exitStatus // of its last worker that exited on its own

	listeners []*Listener
	pool      *pool // proxy mode
	// retired: sockets of addresses a re-read file dropped (inherit mode),
	// closed once no live worker holds them (retiredSlotDone).
	retired   []*Listener
	proxyStop map[*Listener]chan struct{} // proxy mode: ends one socket's accept loop

	removed bool          // gone from the file (Apply): its sockets close after its last worker (proxy mode: at once)
	gone    chan struct{} // closed with its sockets (unbind): ends its proxy's accept loops and waiting connections

	logs *logRing // the last lines of its workers (made by ring)
}

// ring returns the type's log ring, made on first use.
func (t *ptype) ring() *logRing {
	if t.logs == nil {
		t.logs = newLogRing(t.p.Name)
	}
	return t.logs
}

func (t *ptype) proxy() bool {
	return len(t.p.Listen) > 0 && t.p.Socket == procfile.SocketProxy
}

func (t *ptype) inherit() bool {
	return len(t.p.Listen) > 0 && t.p.Socket != procfile.SocketProxy
}

// New checks everything that can be checked before a process starts: the
// selected types exist, every program can be found (see Preflight), and it
// binds every shared socket. Its errors are configuration errors (exit
// status 2).
func New(opts Options) (*Runner, error) {
	r, err := prepare(opts)
	if err != nil {
		return nil, err
	}
	if err := r.bind(); err != nil {
		r.closeListeners()
		return nil, err
	}
	// What this process inherited without close-on-exec (from a shell, a
	// daemon) must not reach a worker: marked once, here, before any fork.
	markInherited(3)
	// The fork threads start now, while the caller sets up the rest
	// (control socket, signals), not when Run forks the first worker.
	getReaper(opts.ReapAll)
	return r, nil
}

// Preflight runs every check New runs before it binds sockets: what
// `cluster check` promises `cluster run` will accept, with the same messages.
func Preflight(opts Options) error {
	_, err := prepare(opts)
	return err
}

// WorkerArgv returns the argv worker index of process will exec, split and
// expanded with that worker's environment (PORT included), as at run time.
func WorkerArgv(opts Options, process string, index int) ([]string, error) {
	r, err := prepare(opts)
	if err != nil {
		return nil, err
	}
	for _, t := range r.types {
		if t.p.Name == process {
			env := r.workerEnv(t, index)
			if t.proxy() {
				env = append(env, "PORT=$PORT") // a private port picked at start
			}
			_, argv, err := r.resolveArgv(t, env)
			return argv, err
		}
	}
	return nil, fmt.Errorf("unknown process type %q (have %s)", process, processNames(opts.Config))
}

func prepare(opts Options) (*Runner, error) {
	cfg := opts.Config
	if cfg == nil {
		return nil, errors.New("no configuration")
	}
	if opts.PortBase == 0 {
		opts.PortBase = 5000
	}
	if opts.Self == "" {
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("cannot find the cluster binary to run workers through: %w", err)
		}
		opts.Self = self
	}
	if opts.Output == nil {
		opts.Output = discardOutput{}
	}
	// A name that is no type is one error among the rest: the known types
	// are still checked, so that every error is reported at once.
	var errs []error
	only := map[string]bool{}
	for _, name := range opts.Only {
		if findProcess(cfg, name) == nil {
			errs = append(errs, fmt.Errorf("unknown process type %q (have %s)", name, processNames(cfg)))
		}
		only[name] = true
	}
	for _, name := range slices.Sorted(maps.Keys(opts.Workers)) {
		if name != AllTypes && findProcess(cfg, name) == nil {
			errs = append(errs, fmt.Errorf("-w: unknown process type %q (have %s)", name, processNames(cfg)))
		}
	}
	r := &Runner{
		opts:        opts,
		out:         opts.Output,
		events:      emitter{out: opts.Output},
		killAll:     make(chan struct{}),
		exits:       make(chan exitReport),
		slotDone:    make(chan *slot),
		readyCh:     make(chan *slot),
		spawned:     make(chan *slot),
		requests:    make(chan func()),
		finished:    make(chan struct{}),
		live:        map[*slot]bool{},
		loopDone:    make(chan struct{}),
		readyResult: make(chan error, 1),
		shutdown:    newShutdown(),

		shutdownTimeout: cfg.ShutdownTimeout,
	}
	for _, p := range cfg.Processes {
		r.colorOrder = append(r.colorOrder, p.Name)
	}
	total := 0
	for i, p := range cfg.Processes {
		if len(only) > 0 && !only[p.Name] {
			continue
		}
		t := &ptype{p: p, portPlace: portPlace(cfg, i), count: p.Workers, slots: map[int]*slot{}, gone: make(chan struct{})}
		if n, ok := WorkerCount(opts.Workers, p.Name); ok {
			t.count = n
		}
		if t.count <= 0 {
			continue
		}
		if t.count > procfile.MaxWorkers {
			errs = append(errs, fmt.Errorf("%s: %d workers is over the limit of %d per type", p.Name, t.count, procfile.MaxWorkers))
		} else if err := r.portOverflow(t, t.count); err != nil {
			errs = append(errs, err)
		}
		total += t.count
		// Named as load names what it finds: file, line and key.
		if _, err := r.resolve(t, 1); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s", cfg.Where(p, "command"), strings.TrimPrefix(err.Error(), p.Name+": ")))
		}
		if _, err := credential(p.User); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", cfg.Where(p, "user"), err))
		}
		r.types = append(r.types, t)
	}
	errs = append(errs, listenClashes(cfg, r.types)...)
	if total > procfile.MaxTotalWorkers {
		errs = append(errs, fmt.Errorf("%d workers in all is over the limit of %d", total, procfile.MaxTotalWorkers))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(r.types) == 0 {
		return nil, errors.New("no process to run (every selected type has 0 workers)")
	}
	r.events.hurry = r.hardStop
	return r, nil
}

// listenClashes finds listen addresses that cannot all be bound: the same
// address twice, or one port on a wildcard host ("", 0.0.0.0, [::]) and on
// any other host (the kernel refuses it without SO_REUSEPORT). Preflight
// finds them, so check says what run would fail on.
func listenClashes(cfg *procfile.Config, types []*ptype) []error {
	type bound struct {
		name, raw, host string
	}
	byPort := map[string][]bound{}
	var errs []error
	for _, t := range types {
		for _, a := range t.p.Listen {
			key, host := a.Network+" "+a.Addr, ""
			if a.Network != "unix" {
				// Compared as they are bound: "localhost" is 127.0.0.1, a
				// host name its address, "08080" port 8080.
				h, port, err := net.SplitHostPort(a.Addr)
				if err != nil {
					continue
				}
				ip, err := listenIP(h)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %s: %v", cfg.Where(t.p, "listen"), a.Raw, err))
					continue
				}
				n, err := strconv.Atoi(port)
				if err != nil || n == 0 {
					continue
				}
				key, host = a.Network+" "+strconv.Itoa(n), ip.String()
				if ip.IsUnspecified() {
					host = ""
				}
			}
			for _, b := range byPort[key] {
				if b.host == host || b.host == "" || host == "" {
					errs = append(errs, fmt.Errorf("%s: %s clashes with %s's listen %s (one socket cannot be bound twice)", cfg.Where(t.p, "listen"), a.Raw, b.name, b.raw))
					break
				}
			}
			byPort[key] = append(byPort[key], bound{t.p.Name, a.Raw, host})
		}
	}
	return errs
}

// bind creates every shared socket before any worker starts.
//
// Sockets passed by systemd socket activation (LISTEN_FDS to cluster itself)
// are adopted instead of bound, matched by their local address.
func (r *Runner) bind() error {
	inherited := inheritedSockets()
	defer inherited.closeRest()
	seen := map[string]string{}
	for _, t := range r.types {
		for _, a := range t.p.Listen {
			key := a.Network + " " + a.Addr
			if other, ok := seen[key]; ok {
				return fmt.Errorf("%s: listen %s: already the address of %s", t.p.Name, a.Raw, other)
			}
			seen[key] = t.p.Name
		}
		if err := r.bindType(t, inherited); err != nil {
			return err
		}
	}
	return nil
}

// bindType creates the shared sockets of one type, adopting those in
// inherited; on error the type holds the ones it did bind (closed by the caller).
func (r *Runner) bindType(t *ptype, inherited activated) error {
	for _, a := range t.p.Listen {
		var l *Listener
		if fd, ok := inherited.take(a); ok {
			l = Adopt(fd, t.p.Name, a)
			r.event("", "adopted", fmt.Sprintf("%s: using the socket %s passed by the service manager", t.p.Name, a.Raw), 0, nil)
		} else {
			var err error
			if l, err = Listen(a); err != nil {
				return fmt.Errorf("%s: %w", t.p.Name, err)
			}
		}
		l.Name = listenerName(t.p, a)
		t.listeners = append(t.listeners, l)
	}
	if t.proxy() {
		t.pool = newPool()
	}
	return nil
}

// listenerName is a socket's LISTEN_FDNAMES entry: the type's name, or
// "type-port" when it has several (':' separates the entries).
func listenerName(p *procfile.Process, a procfile.Address) string {
	if len(p.Listen) < 2 {
		return p.Name
	}
	_, port, _ := strings.Cut(a.Addr, "]:")
	if i := strings.LastIndexByte(a.Addr, ':'); port == "" && i >= 0 {
		port = a.Addr[i+1:]
	}
	if a.Network == "unix" {
		port = filepath.Base(a.Addr)
	}
	return p.Name + "-" + port
}

func (r *Runner) closeListeners() {
	for _, t := range r.types {
		t.closeListeners()
	}
}

// unbind closes a removed type's sockets, once.
func (t *ptype) unbind() {
	select {
	case <-t.gone:
		return
	default:
	}
	close(t.gone)
	t.closeListeners()
}

func (t *ptype) closeListeners() {
	for _, l := range t.listeners {
		l.Close()
	}
	t.listeners = nil
	for _, l := range t.retired {
		l.Close()
	}
	t.retired = nil
}

func findProcess(cfg *procfile.Config, name string) *procfile.Process {
	for _, p := range cfg.Processes {
		if p.Name == name {
			return p
		}
	}
	return nil
}

func processNames(cfg *procfile.Config) string {
	var names []string
	for _, p := range cfg.Processes {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// AllTypes is the name -w gives every type at once: -w all=2,web=4 (foreman's
// formation).
const AllTypes = "all"

// WorkerCount is the count -w gives the type name: its own entry, else
// that of "all" (foreman's -m all=N; a type named all is named by it too);
// ok is false when -w says nothing of it.
func WorkerCount(counts map[string]int, name string) (n int, ok bool) {
	if n, ok := counts[name]; ok {
		return n, true
	}
	n, ok = counts[AllTypes]
	return n, ok
}

// Kill stops every worker at once with SIGKILL (a second Ctrl-C, SIGQUIT).
// Run still returns only after every process is reaped.
func (r *Runner) Kill() {
	r.killOnce.Do(func() { close(r.killAll) })
}

// killedAtStop notes a worker SIGKILLed at its stop_timeout: it makes the
// exit status 1 only when it happened during the cluster's shutdown, not when
// a reload, a scale down or a max_memory replacement stopped it long before.
func (r *Runner) killedAtStop() {
	if r.halting.Load() {
		r.killed.Store(true)
	}
}

func (r *Runner) event(worker, ev, msg string, pid int, fields map[string]any) {
	r.emit(Event{Worker: worker, Event: ev, PID: pid, Message: msg, Fields: fields})
}

// emit prints a runner event without ever blocking long (events.go).
func (r *Runner) emit(e Event) { r.events.emit(e) }

// Run starts every worker and supervises them until the cluster stops:
// ctx cancelled (graceful stop), Kill, a type failing, or every worker
// having ended on its own. It returns only after every child is reaped and
// its output copied: nil for a clean stop, ErrFailed or ErrKilled otherwise.
func (r *Runner) Run(ctx context.Context) error {
	defer close(r.finished)
	defer r.closeListeners()
	r.rp = getReaper(r.opts.ReapAll)
	if err := r.startProxies(); err != nil {
		return err
	}
	r.watchMemory()
	r.readyPending = map[*slot]bool{}
	r.readyWaiting = map[*ptype]bool{}
	for _, t := range r.types {
		t.waiting = true
		r.readyWaiting[t] = true
	}
	r.checkWaiting() // starts every type whose dependencies are met (those without any first)

	var result error
	var shutdownTimer <-chan time.Time
	// stop starts the stop and its clock, then says why (say, "": nothing
	// to say): the workers are asked to stop even if that line cannot be
	// written.
	stop := func(reason error, say string) {
		if r.stopping {
			return
		}
		r.stopping = true
		r.halting.Store(true)
		result = reason
		r.startBudget()
		shutdownTimer = time.After(time.Until(r.softAt)) // sooner when `cluster stop` began with -- COMMAND
		r.failWaits("the cluster is stopping: the reload did not finish")
		if r.readyPending != nil {
			// Stopped before it was ready: it never will be, and a
			// worker stopped now must not count as the last one awaited.
			r.readyPending = nil
			r.readyResult <- ErrNotRunning
		}
		r.stopInOrder()
		if say != "" {
			r.event("", "stopping", say, 0, nil)
		}
	}
	ctxDone := ctx.Done()
	killAll := r.killAll
	// The shared sockets' check ticks once there is an inherit type: from
	// the start, or from the Apply that adds one (an idle runner without
	// one has no timer for it).
	var health <-chan time.Time
	var healthTicker *time.Ticker
	defer func() {
		if healthTicker != nil {
			healthTicker.Stop()
		}
	}()
	watchSockets := func() {
		if healthTicker == nil && r.hasInherit() {
			healthTicker = time.NewTicker(time.Second)
			health = healthTicker.C
		}
	}
	watchSockets()
	// In watch mode the cluster outlives its workers: a failed type waits
	// for the next file change, as nodemon and air do. A type scaled to 0
	// holds the cluster too: its sockets stay bound (connections queue)
	// until it is scaled up again or the cluster is stopped.
	for len(r.live) > 0 || (!r.stopping && (r.opts.Watch || r.holding())) {
		select {
		case <-ctxDone:
			ctxDone = nil
			stop(nil, "stopping (graceful)")
		case <-killAll:
			killAll = nil
			r.startBudget()
			r.hastenBudget()                     // before the line, which may wait on the output
			stop(result, "stopping (immediate)") // says nothing when already stopping
		case <-shutdownTimer:
			shutdownTimer = nil
			// Only a process still running makes the stop a kill (exit
			// 1). A worker that has exited while its last lines wait for
			// an output nobody reads stopped in time: its slot is still
			// live only until report gives that output up, within the
			// bound (the lines not written are said on stderr at exit).
			what := "every worker has stopped; some of their output is not written yet"
			if r.processesLeft() {
				r.killed.Store(true)
				what = "killing what is left"
			}
			r.Kill()
			r.event("", "stopping", fmt.Sprintf("shutdown_timeout %s passed: %s", r.shutdownTimeout, what), 0, nil)
			// Descendants that left their worker's group (setsid) are not
			// reached by the group SIGKILL: kill them too, so the pipes they
			// hold close and the workers' last output is copied.
			r.background.Add(1)
			go func() {
				defer r.background.Done()
				r.killDescendants(r.hardStop)
			}()
		case rep := <-r.exits:
			if rep.status.success() && rep.s.p.Restart != procfile.RestartAlways {
				r.noteFirstReady(rep.s) // a one-shot that completed: nothing more to wait for
			} else if rep.notReady != nil {
				r.noteNotReady(rep.s, "was "+rep.notReady.Error()) // killed for it: its exit says nothing
				r.slotWaitsFailed(rep.s, "was "+rep.notReady.Error())
			} else if !rep.wasReady {
				r.noteNotReady(rep.s, rep.notReadyWhy())
				r.slotWaitsFailed(rep.s, rep.notReadyWhy())
			}
			d := r.decide(rep)
			rep.reply <- d
			if d.stopCluster && !r.stopping {
				stop(ErrFailed, "")
			}
		case s := <-r.spawned:
			s.everSpawned = true
			s.t.reached(s)
		case s := <-r.readyCh:
			s.everReady = true
			s.t.reached(s)
			r.noteFirstReady(s)
			r.slotWaitsReady(s)
			r.onReady(s)
		case s := <-r.slotDone:
			delete(r.live, s)
			if s.t.slots[s.index] == s {
				delete(s.t.slots, s.index)
			}
			if r.readyPending != nil && r.readyPending[s] {
				delete(r.readyPending, s) // stopped before it was ready: Ready does not wait for it
				r.maybeReady()
			}
			r.slotWaitsDone(s)
			r.reloadSlotDone(s)
			r.removedSlotDone(s)
			r.closeRetired(s.t)
			if r.stopping {
				r.stopInOrder() // a dependency whose dependents are gone stops now
			}
		case <-health:
			r.checkSockets()
		case f := <-r.requests:
			f()
			if r.stopRequested && !r.stopping {
				stop(nil, "stopping (cluster stop)")
			}
			watchSockets() // an Apply may have added an inherit type
		}
		r.checkWaiting()
		if r.failNow && !r.stopping {
			stop(ErrFailed, "")
		}
	}
	close(r.loopDone)
	if r.readyPending != nil {
		r.readyPending = nil
		r.readyResult <- ErrNotRunning
	}
	r.startBudget() // the cluster ended on its own: the same bound applies
	r.reapLeftovers()
	r.waitBackground()
	if pids := r.killedPids(); len(pids) > 0 {
		r.event("", "killed", "SIGKILLed processes left behind that did not stop: "+pids, 0, nil)
	}
	// Every event is written before Run returns, unless nobody reads the
	// output: then not past the bound the workers are held to.
	r.unwritten.Store(int64(r.events.flush(r.softAt.Add(hardGrace+outputSettle), r.hardStop)))
	if result == nil && r.killed.Load() {
		result = ErrKilled
	}
	return result
}

// startProxies starts the accept loop of every proxy-mode socket.
func (r *Runner) startProxies() error {
	for _, t := range r.types {
		if err := r.startProxy(t); err != nil {
			return err
		}
	}
	return nil
}

// startProxy starts the accept loops of one type's proxy-mode sockets; they
// end with the supervisor loop or when the type is removed.
func (r *Runner) startProxy(t *ptype) error {
	return r.startProxyOn(t, t.listeners)
}

// startProxyOn starts the accept loops of some of t's sockets.
func (r *Runner) startProxyOn(t *ptype, listeners []*Listener) error {
	if !t.proxy() {
		return nil
	}
	var lns []net.Listener
	for _, l := range listeners {
		ln, err := proxyListener(l)
		if err != nil {
			for _, ln := range lns {
				ln.Close()
			}
			return fmt.Errorf("%s: proxy on %s: %w", t.p.Name, l.Addr.Raw, err)
		}
		lns = append(lns, ln)
	}
	if t.proxyStop == nil {
		t.proxyStop = map[*Listener]chan struct{}{}
	}
	for i, ln := range lns {
		stop := make(chan struct{})
		t.proxyStop[listeners[i]] = stop
		quit := make(chan struct{})
		r.background.Add(2)
		go func() {
			defer r.background.Done()
			r.serveProxy(ln, t.pool, t.gone, quit)
		}()
		go func() {
			defer r.background.Done()
			select {
			case <-r.loopDone:
			case <-t.gone:
			case <-stop:
			}
			ln.Close()
			close(quit)
		}()
	}
	return nil
}

// decision is the supervisor's answer to a worker that exited on its own.
type decision struct {
	restart     bool
	clean       bool // restart after a clean exit: no crash backoff
	stopCluster bool
	failed      bool // the type is failed: the slot shows it (it may not read ptype)
}

type exitReport struct {
	s        *slot
	status   exitStatus
	wasReady bool
	resource bool  // it could not start for lack of system resources
	notReady error // its readiness check failed and it was killed
	startErr error // it could not start: nothing ran, its status is made up
	streak   int   // the slot's crashes in a row, this one included (see slot.run)
	reply    chan decision
}

// notReadyWhy says why a worker that was not ready yet ended.
func (rep exitReport) notReadyWhy() string {
	if rep.startErr != nil {
		return "could not start: " + rep.startErr.Error()
	}
	return "exited before it was ready (" + rep.status.String() + ")"
}

// decide applies the restart policy and the crash-loop limit of the worker's
// type. It runs on the supervisor goroutine, which owns ptype.
func (r *Runner) decide(rep exitReport) decision {
	t := rep.s.t
	p := t.p
	if r.plan != nil && r.plan.cur == rep.s {
		if rep.status.success() && p.Restart != procfile.RestartAlways {
			// A one-shot's replacement that completed did its work: it
			// takes its index (the old worker stops) and counts as done.
			t.lastExit = rep.status
			t.succeeded++
			r.onReady(rep.s)
			return decision{}
		}
		why := rep.notReadyWhy()
		if rep.notReady != nil {
			why = rep.notReady.Error() + " and was killed"
		}
		r.abortReload(rep.s, why)
		return decision{failed: t.failed}
	}
	if r.stopping || t.failed || rep.s.retired() {
		return decision{failed: t.failed}
	}
	if rep.resource {
		return decision{restart: true} // backed off, but not the app's crash
	}
	ok := rep.status.success()
	t.lastExit = rep.status
	switch {
	case ok && p.Restart != procfile.RestartAlways:
		t.succeeded++
		return decision{}
	case !ok && p.Restart == procfile.RestartNever:
		t.failed = true
		r.stopBackoffs(t)
		r.event(p.Name, "failed", fmt.Sprintf("%s failed (restart = \"never\")", p.Name), 0, nil)
		return decision{stopCluster: !r.opts.Watch, failed: true}
	}
	if ok {
		return decision{restart: true, clean: true}
	}
	now := time.Now()
	keep := t.crashes[:0]
	for _, at := range t.crashes {
		if now.Sub(at) < p.RestartWindow {
			keep = append(keep, at)
		}
	}
	t.crashes = append(keep, now)
	if len(t.crashes) > p.MaxRestarts {
		t.failed = true
		msg := fmt.Sprintf("%s failed after %s in %s", p.Name, plural(len(t.crashes), "crash"), p.RestartWindow)
		if r.opts.Watch {
			msg += "; waiting for a file change"
		}
		r.stopBackoffs(t) // first: no restart is announced after "failed"
		r.event(p.Name, "failed", msg, 0, map[string]any{"crashes": len(t.crashes)})
		return decision{stopCluster: !r.opts.Watch, failed: true}
	}
	if rep.streak > p.MaxRestarts {
		// One worker's backoff (up to 30s) spreads its crashes out: more
		// than max_restarts never fit in restart_window, and a type of one
		// worker would crash forever. In a row, they fail it too.
		t.failed = true
		msg := fmt.Sprintf("%s failed: %s crashed %d times in a row", p.Name, rep.s.name, rep.streak)
		if r.opts.Watch {
			msg += "; waiting for a file change"
		}
		r.stopBackoffs(t)
		r.event(p.Name, "failed", msg, 0, map[string]any{"crashes": rep.streak})
		return decision{stopCluster: !r.opts.Watch, failed: true}
	}
	return decision{restart: true}
}

// stopBackoffs ends t's workers that wait to restart once t failed for
// good: they do not start again (in watch mode the type waits for a file
// change; otherwise the cluster stops). Running ones are left as they are.
func (r *Runner) stopBackoffs(t *ptype) {
	for _, s := range t.slots {
		// Exited: its restart may already be decided, its backoff not begun.
		s.mu.Lock()
		waiting := s.info.State == StateBackoff || s.info.State == StateExited
		s.mu.Unlock()
		if waiting {
			s.requestStop()
		}
	}
}

type discardOutput struct{}

func (discardOutput) Stream(Stream) io.WriteCloser { return nopCloser{io.Discard} }
func (discardOutput) Event(Event)                  {}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// Close releases the shared sockets of a Runner whose Run will not be called.
func (r *Runner) Close() { r.closeListeners() }

// holding reports whether some type waits to be scaled up or started again
// (`cluster scale web=0`, `cluster stop web`): the cluster then outlives its
// workers. Types with 0 workers in the file never join r.types.
func (r *Runner) holding() bool {
	for _, t := range r.types {
		if t.count == 0 || t.stopped {
			return true
		}
	}
	return false
}

func (r *Runner) hasInherit() bool {
	for _, t := range r.types {
		if t.inherit() {
			return true
		}
	}
	return false
}

// checkSockets notices a shared socket that stopped listening (a worker
// called shutdown() on its copy, which stops the listen for everyone),
// re-creates it and rolls the type's workers onto the new one.
func (r *Runner) checkSockets() {
	if r.stopping {
		return
	}
	for _, t := range r.types {
		if !t.inherit() {
			continue
		}
		for _, l := range t.listeners {
			if l.Listening() {
				continue
			}
			if err := l.Renew(); err != nil {
				r.event(t.p.Name, "socket", fmt.Sprintf("%s: the shared socket %s stopped listening (a worker called shutdown() on it) and could not be re-created: %v", t.p.Name, l.Addr.Raw, err), 0, nil)
				continue
			}
			r.event(t.p.Name, "socket", fmt.Sprintf("%s: the shared socket %s stopped listening (a worker called shutdown() on it); re-created it, reloading %s onto it", t.p.Name, l.Addr.Raw, t.p.Name), 0, nil)
			r.queueReload(t, nil, nil)
			r.nextReload()
		}
	}
}
