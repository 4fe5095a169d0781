// Command cluster runs the process types of a Clusterfile or Procfile as
// supervised workers behind shared sockets. See README.md and SPEC.md.
//
// main.go holds flags, signals, wiring and exit statuses: it is the only
// place that calls os.Exit or signal.Notify.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/mattn/go-isatty"

	"github.com/cluster-run/cluster/logmux"
	"github.com/cluster-run/cluster/procfile"
	"github.com/cluster-run/cluster/runner"
)

// Set at release time with -ldflags "-X main.version=... -X main.commit=... -X main.date=...".
var (
	version = ""
	commit  = ""
	date    = ""
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

const usage = `cluster runs the process types of a Clusterfile (or Procfile) as supervised workers.

Usage:
  cluster run     [-f FILE] [-w web=4,worker=1] [--watch | --no-watch] [--color auto|always|never]
                  [--log-format text|json] [--timestamps] [--port N] [--metrics ADDR]
                  [PROCESS ...] [-- COMMAND [ARG ...]]
  cluster check   [-f FILE] [--json]    validate; print the resolved plan
  cluster status  [-f FILE] [--json]    table of the running cluster's workers
  cluster reload  [PROCESS ...]         rolling, zero-downtime reload
  cluster restart PROCESS[.N] ...       replace one worker or a whole type
  cluster scale   PROCESS=N ...         change worker counts at run time
  cluster signal  PROCESS[.N] SIGNAL    send a signal to workers
  cluster stop                          graceful shutdown of the running cluster
  cluster export  systemd|kubernetes|procfile [DIR]
  cluster version

Run "cluster COMMAND -h" for the flags of a command.
`

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == runner.ShimCommand {
		return runner.Shim(args[1:])
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(rest, stdout, stderr)
	case "check":
		return cmdCheck(rest, stdout, stderr)
	case "version":
		return cmdVersion(rest, stdout, stderr)
	case "export":
		return cmdExport(rest, stdout, stderr)
	case "status", "reload", "restart", "scale", "signal", "stop":
		return cmdControl(cmd, rest, stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "cluster: unknown command %q (run \"cluster -h\" for the list)\n", cmd)
	return 2
}

// newFlags returns a FlagSet whose errors are one line with a hint, and whose
// -h prints its usage to stdout.
func newFlags(name, synopsis string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: cluster %s %s\n\nFlags:\n", name, synopsis)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parseFlags parses flags that may come before or after positional
// arguments. It returns the exit status to use when it should stop (-h: 0,
// a bad flag: 2) or -1 to go on.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) ([]string, int) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.Usage()
				return nil, 0
			}
			fmt.Fprintf(stderr, "cluster %s: %v (see \"cluster %s -h\")\n", fs.Name(), err, fs.Name())
			return nil, 2
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, -1
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// configPath applies -f's default: Clusterfile in the current directory, else Procfile.
func configPath(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	return procfile.Find(".")
}

func loadConfig(file string, stderr io.Writer) (*procfile.Config, bool) {
	path, err := configPath(file)
	if err == nil {
		var cfg *procfile.Config
		cfg, err = procfile.Load(path)
		if err == nil {
			return cfg, true
		}
	}
	fmt.Fprintln(stderr, strings.TrimRight(err.Error(), "\n"))
	return nil, false
}

// workerCounts parses -w web=4,worker=1 (repeatable).
type workerCounts map[string]int

func (w workerCounts) String() string {
	var parts []string
	for k, v := range w {
		parts = append(parts, k+"="+strconv.Itoa(v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func (w workerCounts) Set(s string) error {
	for _, part := range strings.Split(s, ",") {
		name, n, ok := strings.Cut(strings.TrimSpace(part), "=")
		count, err := strconv.Atoi(n)
		if !ok || name == "" || err != nil || count < 0 {
			return fmt.Errorf("%q is not PROCESS=N with N >= 0", part)
		}
		if count > procfile.MaxWorkers {
			return fmt.Errorf("%q: over the limit of %d workers per type", part, procfile.MaxWorkers)
		}
		w[name] = count
	}
	return nil
}

type runFlags struct {
	file       string
	workers    workerCounts
	watch      bool
	noWatch    bool
	color      string
	logFormat  string
	timestamps bool
	port       int
	metrics    string
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	var command []string
	for i, a := range args {
		if a == "--" {
			args, command = args[:i], args[i+1:]
			break
		}
	}
	f := runFlags{workers: workerCounts{}}
	fs := newFlags("run", "[-f FILE] [-w web=4,worker=1] [flags] [PROCESS ...] [-- COMMAND [ARG ...]]", stdout)
	fs.StringVar(&f.file, "f", "", "the Clusterfile or Procfile (default: Clusterfile, else Procfile)")
	fs.Var(f.workers, "w", "worker counts that override the file, e.g. web=4,worker=1")
	fs.BoolVar(&f.watch, "watch", false, "watch the files of types that declare watch even where it is off by default (CI, PID 1)")
	fs.BoolVar(&f.noWatch, "no-watch", false, "do not watch files")
	fs.StringVar(&f.color, "color", "auto", "auto, always or never")
	fs.StringVar(&f.logFormat, "log-format", "text", "text or json")
	fs.BoolVar(&f.timestamps, "timestamps", false, "prefix every line with the time")
	fs.IntVar(&f.port, "port", 5000, "base of the foreman PORT given to types without listen")
	fs.StringVar(&f.metrics, "metrics", "", "serve Prometheus metrics at ADDR/metrics (loopback unless ADDR names a host)")
	only, code := parseFlags(fs, args, stderr)
	if code >= 0 {
		return code
	}
	switch {
	case f.color != "auto" && f.color != "always" && f.color != "never":
		fmt.Fprintf(stderr, "cluster run: --color %q: want auto, always or never\n", f.color)
		return 2
	case f.logFormat != "text" && f.logFormat != "json":
		fmt.Fprintf(stderr, "cluster run: --log-format %q: want text or json\n", f.logFormat)
		return 2
	case f.watch && f.noWatch:
		fmt.Fprintln(stderr, "cluster run: --watch and --no-watch contradict each other")
		return 2
	case f.port <= 0 || f.port > 65535:
		fmt.Fprintf(stderr, "cluster run: --port %d: want 1-65535\n", f.port)
		return 2
	case len(command) == 0 && len(args) > 0 && args[len(args)-1] == "--":
		fmt.Fprintln(stderr, "cluster run: -- needs a COMMAND")
		return 2
	}
	cfg, ok := loadConfig(f.file, stderr)
	if !ok {
		return 2
	}
	// A closed stdout (`cluster run | head`) must not kill the runner with
	// SIGPIPE: with SIGPIPE notified, writes fail with EPIPE instead, logmux
	// counts what is lost, and supervision goes on. A notified signal is
	// reset to default in workers at exec, unlike an ignored one.
	pipeSigs := make(chan os.Signal, 1)
	signal.Notify(pipeSigs, syscall.SIGPIPE)
	defer signal.Stop(pipeSigs)
	color := useColor(f.color, stdout)
	mux := logmux.New(stdout, logmux.Options{
		Color: color, JSON: f.logFormat == "json", Timestamps: f.timestamps,
		Terminal: isTerminal(stdout), Errors: stderr,
	})
	defer mux.Close()
	watching := watchWanted(cfg, only, f) && len(command) == 0

	r, err := runner.New(runner.Options{
		Config:   cfg,
		Only:     only,
		Workers:  f.workers,
		PortBase: f.port,
		Color:    color,
		Output:   muxOutput{mux},
		ReapAll:  true,
		Watch:    watching,
	})
	if err != nil {
		mux.Close()
		fmt.Fprintf(stderr, "cluster: %s\n", strings.ReplaceAll(err.Error(), "\n", "\ncluster: "))
		return 2
	}
	ctl, err := runner.ListenControl(controlPath(cfg.Dir))
	if err != nil {
		r.Close()
		mux.Close()
		fmt.Fprintf(stderr, "cluster: %v\n", err)
		return 2
	}
	defer ctl.Close()
	go ctl.Serve(r)
	if f.metrics != "" {
		ln, err := listenMetrics(f.metrics)
		if err != nil {
			r.Close()
			mux.Close()
			fmt.Fprintf(stderr, "cluster: --metrics %s: %v\n", f.metrics, err)
			return 2
		}
		srv := newMetricsServer(r)
		go srv.Serve(ln)
		defer srv.Close()
		mux.Printf("metrics at http://%s/metrics", ln.Addr())
	}
	mux.SetNames(labels(cfg, only, f.workers)...)
	if err := runner.BecomeSubreaper(); err != nil {
		mux.Printf("cannot become a child subreaper (%v): orphaned grandchildren will not be reaped", err)
	}

	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGHUP, syscall.SIGTTIN, syscall.SIGTTOU)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stopSignal atomic.Value // os.Signal
	cmdSignals := make(chan os.Signal, 8)
	go func() {
		for s := range sigs {
			switch s {
			case syscall.SIGINT, syscall.SIGTERM:
				if stopSignal.CompareAndSwap(nil, s) {
					cancel()
					select {
					case cmdSignals <- s:
					default:
					}
				} else if s == syscall.SIGINT {
					r.Kill()
				}
			case syscall.SIGQUIT:
				stopSignal.CompareAndSwap(nil, s)
				r.Kill()
			case syscall.SIGHUP:
				go r.Reload()
			case syscall.SIGTTIN:
				go r.ScaleListening(1)
			case syscall.SIGTTOU:
				go r.ScaleListening(-1)
			}
		}
	}()
	if watching {
		stopWatch, err := startWatchers(ctx, cfg, only, r, mux)
		if err != nil {
			mux.Printf("file watching is off: %v", err)
		} else {
			defer stopWatch()
		}
	}

	runErr := make(chan error, 1)
	go func() { runErr <- r.Run(ctx) }()
	cmdStatus := -1
	if len(command) > 0 {
		cmdStatus = runCommand(r, cfg, command, cancel, runErr, cmdSignals, mux, stderr)
	}
	err = <-runErr
	signal.Stop(sigs)
	// Lines that could not be written and never reported on the output
	// were lost: Close says so on stderr, and a clean run does not exit 0.
	lost := mux.Close() != nil
	if cmdStatus >= 0 {
		return cmdStatus
	}
	switch {
	case errors.Is(err, runner.ErrFailed), errors.Is(err, runner.ErrKilled):
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "cluster: %v\n", err)
		return 1
	}
	switch stopSignal.Load() {
	case syscall.SIGINT:
		return 130
	case syscall.SIGTERM:
		return 143
	case syscall.SIGQUIT:
		return 131
	}
	if lost {
		return 1
	}
	return 0
}

// runCommand waits for every worker to be ready, runs COMMAND with the
// cluster's env and the terminal's stdio, then stops the cluster. It returns
// COMMAND's status, or 1 when the cluster never became ready.
func runCommand(r *runner.Runner, cfg *procfile.Config, command []string, stop func(), runErr chan error, sigs <-chan os.Signal, mux *logmux.Mux, stderr io.Writer) int {
	defer stop()
	select {
	case err := <-r.Ready():
		if err != nil {
			stop()
			var nre *runner.NotReadyError
			if errors.As(err, &nre) {
				fmt.Fprintf(stderr, "cluster: not running %q: %s; its last %d lines:\n", strings.Join(command, " "), nre.Worker+" "+nre.Why, len(nre.Lines))
				for _, l := range nre.Lines {
					fmt.Fprintf(stderr, "  %s\n", l)
				}
			} else {
				fmt.Fprintf(stderr, "cluster: not running %q: the cluster stopped before it was ready\n", strings.Join(command, " "))
			}
			return 1
		}
	case err := <-runErr:
		runErr <- err
		fmt.Fprintf(stderr, "cluster: not running %q: the cluster stopped before it was ready\n", strings.Join(command, " "))
		return 1
	}
	mux.Printf("every worker is ready: running %s", strings.Join(command, " "))
	status, err := r.Exec(command, cfg.Env, sigs)
	if err != nil {
		fmt.Fprintf(stderr, "cluster: %s: %v\n", command[0], err)
		return 127
	}
	mux.Printf("%s exited with status %d: stopping the cluster", command[0], status)
	return status
}

// labels lists every worker label the run will print, for the mux's column width.
func labels(cfg *procfile.Config, only []string, counts workerCounts) []string {
	out := []string{"cluster"}
	sel := map[string]bool{}
	for _, o := range only {
		sel[o] = true
	}
	for _, p := range cfg.Processes {
		if len(sel) > 0 && !sel[p.Name] {
			continue
		}
		n := p.Workers
		if c, ok := counts[p.Name]; ok {
			n = c
		}
		for i := 1; i <= n; i++ {
			out = append(out, p.Name+"."+strconv.Itoa(i))
		}
	}
	return out
}

func useColor(mode string, stdout io.Writer) bool {
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	if os.Getenv("NO_COLOR") != "" { // no-color.org: only a non-empty value disables colour
		return false
	}
	return isTerminal(stdout)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// muxOutput adapts logmux to runner.Output (runner may not import logmux).
type muxOutput struct{ m *logmux.Mux }

func (o muxOutput) Stream(s runner.Stream) io.WriteCloser {
	return o.m.Writer(logmux.Stream{Process: s.Process, Worker: s.Worker, PID: s.PID, Stream: s.Stream, OnLine: s.OnLine})
}

func (o muxOutput) Event(e runner.Event) {
	o.m.Event(logmux.Event{Worker: e.Worker, Event: e.Event, PID: e.PID, Status: e.Status, Signal: e.Signal, Message: e.Message, Fields: e.Fields})
}

func cmdVersion(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("version", "", stdout)
	pos, code := parseFlags(fs, args, stderr)
	if code >= 0 {
		return code
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "cluster version: unexpected argument %q\n", pos[0])
		return 2
	}
	v, c, d := version, commit, date
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && c == "":
				c = s.Value
			case s.Key == "vcs.time" && d == "":
				d = s.Value
			}
		}
	}
	if v == "" {
		v = "dev"
	}
	if c == "" {
		c = "unknown"
	}
	fmt.Fprintf(stdout, "cluster %s (commit %s", v, c)
	if d != "" {
		fmt.Fprintf(stdout, ", built %s", d)
	}
	fmt.Fprintf(stdout, ") %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return 0
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("check", "[-f FILE] [--json]", stdout)
	file := fs.String("f", "", "the Clusterfile or Procfile (default: Clusterfile, else Procfile)")
	asJSON := fs.Bool("json", false, "print the plan as JSON")
	pos, code := parseFlags(fs, args, stderr)
	if code >= 0 {
		return code
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "cluster check: unexpected argument %q (see \"cluster check -h\")\n", pos[0])
		return 2
	}
	cfg, ok := loadConfig(*file, stderr)
	if !ok {
		return 2
	}
	if err := printPlan(stdout, cfg, *asJSON); err != nil {
		fmt.Fprintf(stderr, "cluster check: %v\n", err)
		return 2
	}
	return 0
}
