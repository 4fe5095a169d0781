package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cluster-run/cluster/procfile"
	"github.com/cluster-run/cluster/runner"
)

// plan is what `cluster check` prints: the resolved configuration, defaults
// applied and "auto" resolved, per process type.
type plan struct {
	File            string        `json:"file"`
	Format          string        `json:"format"`
	Name            string        `json:"name"`
	ShutdownTimeout string        `json:"shutdown_timeout"`
	ReleaseFirst    bool          `json:"release_first,omitempty"` // a Procfile's release type runs first, once
	StartOrder      []string      `json:"start_order,omitempty"`   // when some type has depends_on
	Processes       []processPlan `json:"processes"`
}

type processPlan struct {
	Name          string     `json:"name"`
	Argv          []string   `json:"argv"`                  // worker 1's, expanded with its env
	WorkerArgv    [][]string `json:"worker_argv,omitempty"` // every worker's, from worker 1, when they differ
	Shell         bool       `json:"shell"`
	Workers       int        `json:"workers"`
	WorkersAuto   bool       `json:"workers_auto"`
	Dir           string     `json:"dir"`
	Listen        []string   `json:"listen"`
	Socket        string     `json:"socket,omitempty"`
	OwnPort       int        `json:"own_port,omitempty"`      // a type without listen whose own env sets PORT: worker 1's
	OwnPortFrom   string     `json:"own_port_from,omitempty"` // where: "Clusterfile:7: process.web.env.PORT"
	Restart       string     `json:"restart"`
	MaxRestarts   int        `json:"max_restarts"`
	RestartWindow string     `json:"restart_window"`
	StopSignal    string     `json:"stop_signal"`
	StopTimeout   string     `json:"stop_timeout"`
	KillMode      string     `json:"kill_mode"`
	Ready         string     `json:"ready"`
	ReadyTimeout  string     `json:"ready_timeout"`
	Watch         []string   `json:"watch"`
	WatchIgnore   []string   `json:"watch_ignore"`
	WatchPoll     string     `json:"watch_poll,omitempty"`
	MaxMemory     int64      `json:"max_memory,omitempty"`
	User          string     `json:"user,omitempty"`
	TTY           bool       `json:"tty,omitempty"`
	DependsOn     []string   `json:"depends_on,omitempty"` // "migrate completed"
}

func readyString(r procfile.Ready) string {
	switch r.Kind {
	case procfile.ReadyLog:
		if r.Log != nil {
			return fmt.Sprintf("log %q", r.Log.String())
		}
	case procfile.ReadyHTTP:
		return "http " + r.HTTP
	case procfile.ReadyDelay:
		return "delay " + r.Delay.String()
	case procfile.ReadyStarted:
		if r.PortOrStarted {
			return "when PORT accepts a connection, or still running after " + min(2*time.Second, r.Timeout/2).String()
		}
	}
	return string(r.Kind)
}

// makePlan resolves the plan of the types run would start with opts (which
// runner.Preflight has accepted).
func makePlan(opts runner.Options) (plan, error) {
	cfg := opts.Config
	pl := plan{File: cfg.Path, Format: string(cfg.Format), Name: cfg.Name, ShutdownTimeout: cfg.ShutdownTimeout.String()}
	only := map[string]bool{}
	for _, o := range opts.Only {
		only[o] = true
	}
	pl.ReleaseFirst = releaseFirst(cfg, opts.Only, opts.Workers)
	for _, p := range cfg.Processes {
		if len(only) > 0 && !only[p.Name] {
			continue
		}
		workers, auto := p.Workers, p.WorkersAuto && cfg.Format == procfile.FormatClusterfile
		if n, ok := runner.WorkerCount(opts.Workers, p.Name); ok {
			workers, auto = n, false
		}
		popts := opts
		if pl.ReleaseFirst && p.Name == "release" {
			// It runs once, whatever -w says (runRelease).
			workers, auto = 1, false
			popts.Workers = map[string]int{"release": 1}
		}
		argv, perWorker, err := planArgv(popts, p, workers)
		if err != nil {
			return pl, err
		}
		pp := processPlan{
			Name: p.Name, Argv: argv, WorkerArgv: perWorker, Shell: p.Shell, TTY: p.TTY, Workers: workers, WorkersAuto: auto,
			Dir: p.Dir, Listen: []string{}, Restart: string(p.Restart), MaxRestarts: p.MaxRestarts,
			RestartWindow: p.RestartWindow.String(), StopSignal: signalString(p), StopTimeout: p.StopTimeout.String(),
			KillMode: string(p.KillMode), Ready: readyString(p.Ready), ReadyTimeout: p.Ready.Timeout.String(),
			Watch: orEmpty(p.Watch), WatchIgnore: orEmpty(p.WatchIgnore), MaxMemory: p.MaxMemory, User: p.User,
		}
		if p.WatchPoll > 0 {
			pp.WatchPoll = p.WatchPoll.String()
		}
		for _, a := range p.Listen {
			pp.Listen = append(pp.Listen, a.Raw)
		}
		if len(p.Listen) > 0 {
			pp.Socket = string(p.Socket)
		}
		if port, ok := p.OwnPort(); ok {
			pp.OwnPort, pp.OwnPortFrom = port, p.EnvFrom["PORT"].Where
		}
		for _, d := range p.DependsOn {
			pp.DependsOn = append(pp.DependsOn, d.Name+" "+string(d.Condition))
		}
		if pl.ReleaseFirst && p.Name == "release" {
			pp.Restart, pp.Ready = string(procfile.RestartNever), string(procfile.ReadyStarted)
		}
		pl.Processes = append(pl.Processes, pp)
	}
	for _, p := range cfg.StartOrder() {
		// A disabled type is not run: its dependents do not wait for it.
		if i := slices.IndexFunc(pl.Processes, func(pp processPlan) bool { return pp.Name == p.Name }); i >= 0 && pl.Processes[i].Workers > 0 {
			pl.StartOrder = append(pl.StartOrder, p.Name)
		}
	}
	if !slices.ContainsFunc(pl.Processes, func(p processPlan) bool { return len(p.DependsOn) > 0 }) {
		pl.StartOrder = nil
	}
	return pl, nil
}

// planArgv is the argv worker 1 of p will exec, and every worker's when
// they differ (a command with $PORT or $CLUSTER_WORKER). A disabled type
// shows the argv its first worker would get.
func planArgv(opts runner.Options, p *procfile.Process, workers int) ([]string, [][]string, error) {
	opts.Only = []string{p.Name} // the others are checked already: do not resolve them again per worker
	if workers == 0 {
		opts.Workers = map[string]int{p.Name: 1}
		argv, err := runner.WorkerArgv(opts, p.Name, 1)
		if err != nil { // a disabled type is not checked: show its command as written
			return []string{p.Command}, nil, nil
		}
		return argv, nil, nil
	}
	first, err := runner.WorkerArgv(opts, p.Name, 1)
	if err != nil || workers == 1 {
		return first, nil, err
	}
	last, err := runner.WorkerArgv(opts, p.Name, workers)
	if err != nil || slices.Equal(first, last) {
		return first, nil, err
	}
	all := [][]string{first}
	for i := 2; i < workers; i++ {
		argv, err := runner.WorkerArgv(opts, p.Name, i)
		if err != nil {
			return nil, nil, err
		}
		all = append(all, argv)
	}
	return first, append(all, last), nil
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func signalString(p *procfile.Process) string {
	return runner.SignalName(p.StopSignal)
}

func printPlan(w io.Writer, opts runner.Options, asJSON bool) error {
	pl, err := makePlan(opts)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(pl) // a plain struct: only the write can fail, which run reports (output)
		return nil
	}
	fmt.Fprintf(w, "%s: %s %q, shutdown_timeout %s, %s\n", pl.File, pl.Format, pl.Name, pl.ShutdownTimeout, plural(len(pl.Processes), "process type"))
	if pl.ReleaseFirst {
		fmt.Fprintf(w, "release runs first, once, to completion; the other types start when it exits 0\n")
	}
	if len(pl.StartOrder) > 0 {
		var waits []string
		for _, p := range pl.Processes {
			var deps []string // a dependency outside the run is not waited for
			for _, d := range p.DependsOn {
				if name, _, _ := strings.Cut(d, " "); slices.Contains(pl.StartOrder, name) {
					deps = append(deps, d)
				}
			}
			if len(deps) > 0 && slices.Contains(pl.StartOrder, p.Name) {
				waits = append(waits, p.Name+" waits for "+strings.Join(deps, ", "))
			}
		}
		how := "; stop order: the reverse"
		if len(waits) > 0 {
			how = " (" + strings.Join(waits, "; ") + ")" + how
		}
		fmt.Fprintf(w, "start order: %s%s\n", strings.Join(pl.StartOrder, ", "), how)
	}
	for _, p := range pl.Processes {
		tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
		workers := fmt.Sprint(p.Workers)
		if p.WorkersAuto {
			workers += " (auto: one per CPU)"
		}
		if p.Workers == 0 {
			workers += " (disabled)"
		}
		fmt.Fprintf(w, "\n[%s]\n", p.Name)
		printArgv(tw, p)
		fmt.Fprintf(tw, "  workers\t%s\n", workers)
		fmt.Fprintf(tw, "  dir\t%s\n", p.Dir)
		if len(p.Listen) > 0 {
			fmt.Fprintf(tw, "  listen\t%s (socket %s)\n", strings.Join(p.Listen, ", "), p.Socket)
		} else if p.OwnPort != 0 {
			each := ""
			if p.Workers > 1 {
				each = fmt.Sprintf(" for worker 1, %d for worker %d", p.OwnPort+p.Workers-1, p.Workers)
			}
			fmt.Fprintf(tw, "  listen\tnone (PORT %d%s: its own, from %s)\n", p.OwnPort, each, p.OwnPortFrom)
		} else {
			fmt.Fprintf(tw, "  listen\tnone (PORT from foreman's scheme)\n")
		}
		fmt.Fprintf(tw, "  restart\t%s, at most %s in %s or %d of one worker in a row\n", p.Restart, plural(p.MaxRestarts, "crash"), p.RestartWindow, p.MaxRestarts)
		fmt.Fprintf(tw, "  stop\t%s, SIGKILL after %s, kill_mode %s\n", p.StopSignal, p.StopTimeout, p.KillMode)
		fmt.Fprintf(tw, "  ready\t%s (timeout %s)\n", p.Ready, p.ReadyTimeout)
		if p.TTY {
			fmt.Fprintf(tw, "  tty\tstdin, stdout and stderr are a terminal (cluster attach %s.1)\n", p.Name)
		}
		if len(p.Watch) > 0 {
			poll := "inotify"
			if p.WatchPoll != "" {
				poll = "poll every " + p.WatchPoll
			}
			fmt.Fprintf(tw, "  watch\t%s (%s; ignore %s)\n", strings.Join(watchShown(p.Watch), " "), poll, strings.Join(append(slices.Clone(p.WatchIgnore), ".git", "node_modules", "editor temp files", ".gitignore"), ", "))
		}
		if p.MaxMemory > 0 {
			fmt.Fprintf(tw, "  max_memory\t%s\n", runner.LimitText(p.MaxMemory))
		}
		if p.User != "" {
			fmt.Fprintf(tw, "  user\t%s\n", p.User)
		}
		if len(p.DependsOn) > 0 {
			fmt.Fprintf(tw, "  depends_on\t%s\n", strings.Join(p.DependsOn, ", "))
		}
		tw.Flush()
	}
	return nil
}

// printArgv prints the argv of a type, one line per worker when they
// differ: the first two and the last, for a readable plan of many workers.
func printArgv(tw io.Writer, p processPlan) {
	if len(p.WorkerArgv) == 0 {
		fmt.Fprintf(tw, "  argv\t%s\n", quoteArgv(p.Argv))
		return
	}
	label := "  argv"
	for i, argv := range p.WorkerArgv {
		n := len(p.WorkerArgv)
		if n > 3 && i == 2 {
			fmt.Fprintf(tw, "\t... %s.3 to %s.%d likewise\n", p.Name, p.Name, n-1)
		}
		if n > 3 && i >= 2 && i < n-1 {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s.%d: %s\n", label, p.Name, i+1, quoteArgv(argv))
		label = ""
	}
}

func quoteArgv(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t\n\"'\\$") {
			q[i] = fmt.Sprintf("%q", a)
		} else {
			q[i] = a
		}
	}
	return strings.Join(q, " ")
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	var f configFlags
	fs := newFlags("check", "[-f FILE] [-e FILE,...] [-w PROCESS=N,...] [--port N] [--json] [PROCESS ...]", stdout)
	f.define(fs)
	asJSON := fs.Bool("json", false, "print the plan as JSON")
	only, code := parseFlags(fs, args, stderr)
	if code >= 0 {
		return code
	}
	if bad := f.check(); bad != "" {
		usageError(stderr, "check", "%s", bad)
		return 2
	}
	cfg, ok := f.loadChecked(stderr, only)
	if !ok {
		return 2
	}
	// Every check run makes before it starts anything, with run's messages;
	// only binding the sockets is left out (a running cluster holds them).
	opts := f.runnerOptions(cfg, only)
	if err := runner.Preflight(opts); err != nil {
		startError(stderr, cfg, err)
		return 2
	}
	if err := printPlan(stdout, opts, *asJSON); err != nil {
		startError(stderr, cfg, err)
		return 2
	}
	portabilityWarnings(stderr, cfg)
	readyWarnings(stderr, opts)
	return 0
}

// readyWarnings tells of a ready.tcp that probes a PORT the command seems
// not to use: a type without listen whose worker 1, its command expanded as
// it is exec'd ($REDIS_PORT too), does not have the port it is probed on
// in its command line, and whose own env sets no PORT (redis-server --port
// 6379, probed on foreman's 5100), is never ready, and is killed at
// ready.timeout. A command given to sh cannot be expanded before it runs:
// there, $PORT or ${PORT...} in it counts too. A type with no workers (0,
// or -w redis=0) is not warned of. A warning, not an error: a program may
// read PORT from its environment unasked.
func readyWarnings(stderr io.Writer, opts runner.Options) {
	cfg := opts.Config
	for _, p := range cfg.Processes {
		if p.Ready.Kind != procfile.ReadyTCP || len(p.Listen) > 0 {
			continue
		}
		if len(opts.Only) > 0 && !slices.Contains(opts.Only, p.Name) {
			continue
		}
		if n, ok := runner.WorkerCount(opts.Workers, p.Name); ok && n == 0 || !ok && p.Workers == 0 {
			continue
		}
		if _, own := p.OwnPort(); own {
			continue
		}
		env, err := runner.ExecEnv(opts, p.Name)
		if err != nil {
			continue
		}
		port := ""
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, "PORT="); ok {
				port = v
			}
		}
		if port == "" {
			continue
		}
		argv, err := runner.WorkerArgv(opts, p.Name, 1)
		if err != nil || hasPort(argv, port) {
			continue
		}
		if p.Shell && (strings.Contains(p.Command, "$PORT") || strings.Contains(p.Command, "${PORT")) {
			continue
		}
		fmt.Fprintf(stderr, "cluster: warning: %s: tcp = true probes worker 1's PORT, %s (127.0.0.1:%s), but its command line does not have %s: unless %s reads PORT from its environment, its workers are never ready and are killed after %s (ready.timeout); listen on $PORT in the command, or use another readiness, e.g. ready = { log = \"REGEX\" }\n",
			cfg.Where(p, "ready"), port, port, port, p.Name, p.Ready.Timeout)
	}
}

// hasPort reports whether one of argv has port as a whole number in it
// ("5100", "--port=5100", "127.0.0.1:5100"; not "51000").
func hasPort(argv []string, port string) bool {
	digit := func(s string, i int) bool { return i >= 0 && i < len(s) && s[i] >= '0' && s[i] <= '9' }
	for _, a := range argv {
		for i := 0; ; {
			j := strings.Index(a[i:], port)
			if j < 0 {
				break
			}
			j += i
			if !digit(a, j-1) && !digit(a, j+len(port)) {
				return true
			}
			i = j + 1
		}
	}
	return false
}

// portabilityWarnings tells of what loads and runs here but would not on
// another first-class platform: a unix socket path that Linux binds and
// macOS and FreeBSD, whose sun_path is shorter, refuse.
func portabilityWarnings(stderr io.Writer, cfg *procfile.Config) {
	for _, p := range cfg.Processes {
		for _, a := range p.Listen {
			if a.Network == "unix" && len(a.Addr) > procfile.UnixPathMaxBSD {
				fmt.Fprintf(stderr, "cluster: warning: process.%s.listen: %s is %d bytes: it binds here, but not on macOS or FreeBSD (at most %d)\n",
					p.Name, a.Addr, len(a.Addr), procfile.UnixPathMaxBSD)
			}
		}
	}
}

// watchShown is a type's watch globs as check shows them: one with no
// wildcard matches what is below it too (watch.MatchWatch).
func watchShown(globs []string) []string {
	out := make([]string, len(globs))
	for i, g := range globs {
		out[i] = g
		if !strings.ContainsAny(g, `*?[\`) {
			out[i] = g + " (and below)"
		}
	}
	return out
}
