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
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
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
                  [--log-format text|json] [--timestamps] [--port N] [PROCESS ...] [-- COMMAND [ARG ...]]
  cluster check   [-f FILE] [--json]    validate; print the resolved plan
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
	fs.BoolVar(&f.watch, "watch", false, "watch files even where the file does not ask for it")
	fs.BoolVar(&f.noWatch, "no-watch", false, "do not watch files")
	fs.StringVar(&f.color, "color", "auto", "auto, always or never")
	fs.StringVar(&f.logFormat, "log-format", "text", "text or json")
	fs.BoolVar(&f.timestamps, "timestamps", false, "prefix every line with the time")
	fs.IntVar(&f.port, "port", 5000, "base of the foreman PORT given to types without listen")
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
	}
	if len(command) > 0 {
		fmt.Fprintln(stderr, "cluster run: -- COMMAND is not supported yet")
		return 2
	}
	cfg, ok := loadConfig(f.file, stderr)
	if !ok {
		return 2
	}
	color := useColor(f.color, stdout)
	mux := logmux.New(stdout, logmux.Options{Color: color, JSON: f.logFormat == "json", Timestamps: f.timestamps})
	defer mux.Close()

	r, err := runner.New(runner.Options{
		Config:   cfg,
		Only:     only,
		Workers:  f.workers,
		PortBase: f.port,
		Color:    color,
		Output:   muxOutput{mux},
		ReapAll:  true,
	})
	if err != nil {
		mux.Close()
		fmt.Fprintf(stderr, "cluster: %s\n", strings.ReplaceAll(err.Error(), "\n", "\ncluster: "))
		return 2
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
	var stopSignal os.Signal
	go func() {
		for s := range sigs {
			switch s {
			case syscall.SIGINT, syscall.SIGTERM:
				if stopSignal == nil {
					stopSignal = s
					cancel()
				} else if s == syscall.SIGINT {
					r.Kill()
				}
			case syscall.SIGQUIT:
				if stopSignal == nil {
					stopSignal = s
				}
				r.Kill()
			default:
				mux.Printf("%s: not wired yet; ignored", s)
			}
		}
	}()
	err = r.Run(ctx)
	signal.Stop(sigs)
	mux.Close()
	switch {
	case errors.Is(err, runner.ErrFailed), errors.Is(err, runner.ErrKilled):
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "cluster: %v\n", err)
		return 1
	}
	switch stopSignal {
	case syscall.SIGINT:
		return 130
	case syscall.SIGTERM:
		return 143
	case syscall.SIGQUIT:
		return 131
	}
	return 0
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
	if _, ok := os.LookupEnv("NO_COLOR"); ok {
		return false
	}
	f, ok := stdout.(*os.File)
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

func cmdExport(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "cluster export: not available yet")
	_ = filepath.Join
	return 2
}
