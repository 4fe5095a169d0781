// Command cluster runs the process types of a Clusterfile or Procfile as
// supervised workers behind shared sockets. See README.md and SPEC.md.
//
// main.go holds flags, signals, wiring and exit statuses: it is the only
// place that calls os.Exit or signal.Notify.
package main

import (
	"cmp"
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
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"golang.org/x/sys/unix"

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

func main() {
	invocation = os.Args[1:]
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// invocation is the command line cluster was started with (not its name),
// for a suggestion to retype it (tryWithFile); nil when run is called by a
// test.
var invocation []string

// tryWithFile is the user's own command line with "-f file" inserted after
// the command's name, quoted for a POSIX shell: a suggestion that runs as
// it is ("cluster export -f Clusterfile.example systemd"). Without the
// command line, "cluster cmd -f file".
func tryWithFile(cmd, file string) string {
	words := []string{"cluster", cmd, "-f", file}
	if i := slices.Index(invocation, cmd); i >= 0 {
		words = append([]string{"cluster"}, invocation[:i+1]...)
		words = append(append(words, "-f", file), invocation[i+1:]...)
	}
	for i, w := range words {
		words[i] = shellQuote(w)
	}
	return strings.Join(words, " ")
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=+./:,@%^") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == runner.ShimCommand {
		return runner.Shim(args[1:])
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, topUsage())
		return 2
	}
	// What a command prints must reach stdout: a failed write (a full
	// disk) is an error even where the command did not check it.
	out := &output{w: stdout}
	code := command(args, stdin, out, stderr)
	if err := out.failed(); err != nil && code == 0 {
		name := args[0]
		switch name {
		case "--version", "-v":
			name = "version"
		case "-h", "--help", "-help":
			name = "help"
		}
		fmt.Fprintf(stderr, "cluster %s: %v\n", name, err)
		return 1
	}
	return code
}

// command runs the command args name (args is not empty).
func command(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(rest, stdout, stderr)
	case "check":
		return cmdCheck(rest, stdout, stderr)
	case "exec":
		return cmdExec(rest, stdout, stderr)
	case "version", "--version", "-v":
		return cmdVersion(rest, stdout, stderr)
	case "export":
		return cmdExport(rest, stdout, stderr)
	case "completion":
		return cmdCompletion(rest, stdout, stderr)
	case "logs":
		return cmdLogs(rest, stdout, stderr)
	case "status", "reload", "restart", "scale", "signal", "stop", "start":
		return cmdControl(cmd, rest, stdin, stdout, stderr)
	case "attach":
		return cmdAttach(rest, stdin, stdout, stderr)
	case "-h", "--help", "-help", "help":
		switch {
		case len(rest) == 0 || len(rest) == 1 && slices.Contains([]string{"-h", "--help", "-help", "help"}, rest[0]):
			fmt.Fprint(stdout, topUsage())
			return 0
		case commandSummary(rest[0]) == "":
			fmt.Fprintf(stderr, "cluster %s: %s; see cluster -h\n", cmd, unknownCommand(rest[0]))
			return 2
		case len(rest) > 1:
			fmt.Fprintf(stderr, "cluster %s: unexpected argument %q; see cluster -h\n", cmd, rest[1])
			return 2
		}
		return command([]string{rest[0], "-h"}, stdin, stdout, stderr)
	}
	if strings.HasPrefix(cmd, "-") {
		fmt.Fprintf(stderr, "cluster: unknown flag %s; flags go after the command; see cluster -h\n", cmd)
		return 2
	}
	fmt.Fprintf(stderr, "cluster: %s; see cluster -h\n", unknownCommand(cmd))
	return 2
}

// unknownCommand says that cmd is no command, with the one it may be a typo of.
func unknownCommand(cmd string) string {
	msg := fmt.Sprintf("unknown command %q", cmd)
	if s := suggest(cmd, commandNames()); s != "" {
		msg += " (did you mean " + s + "?)"
	}
	return msg
}

// configPath applies -f's default: Clusterfile in the current directory, else Procfile.
func configPath(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	return procfile.Find(".")
}

// loadConfig loads the file -f names (or the default) with the -e files
// for the command cmd, and prints why it cannot.
func loadConfig(cmd, file string, stderr io.Writer, envFiles ...string) (*procfile.Config, bool) {
	cfg, err := readConfig(file, envFiles)
	if err != nil {
		loadError(stderr, cmd, file, err, nil)
		return nil, false
	}
	return cfg, true
}

// readConfig loads the file -f names (or the default) with the -e files.
func readConfig(file string, envFiles []string) (*procfile.Config, error) {
	path, err := configPath(file)
	if err != nil {
		return nil, err
	}
	return procfile.LoadEnvFiles(path, envFiles)
}

// loadError prints what loading found wrong, and more: the errors of the
// pre-flight checks that ran on what did load, merged by line (printErrors).
// file is -f's value: a file that cannot be read is the flag's mistake.
func loadError(stderr io.Writer, cmd, file string, err error, more error) {
	if flagErr := (*procfile.EnvFlagError)(nil); errors.As(err, &flagErr) {
		fmt.Fprintf(stderr, "cluster: %v\n", err) // as the other flags' errors: `cluster: -w: ...`
		return
	}
	// No file to read: the command line is wrong, not a line of a file.
	if none := (*procfile.NoConfigError)(nil); errors.As(err, &none) {
		msg := fmt.Sprintf("no Clusterfile or Procfile in %s (use -f FILE)", none.Dir)
		if len(none.Others) > 0 {
			msg = fmt.Sprintf("no Clusterfile or Procfile in %s; use -f FILE, e.g. %s (here: %s)",
				none.Dir, tryWithFile(cmd, none.Others[0]), strings.Join(none.Others, ", "))
		}
		for _, m := range none.Misnamed { // -f would read it as a Clusterfile
			msg += fmt.Sprintf("; %s is a Procfile by its name: rename it %s (-f reads a name not starting with Procfile as a Clusterfile)",
				m, "Procfile"+m[len("procfile"):])
		}
		fmt.Fprintf(stderr, "cluster %s: %s\n", cmd, msg)
		return
	}
	if re := (*procfile.ReadError)(nil); errors.As(err, &re) {
		flag := ""
		if file != "" {
			flag = "-f "
		}
		fmt.Fprintf(stderr, "cluster %s: %s%v\n", cmd, flag, re)
		return
	}
	var le *procfile.LoadError
	if !errors.As(err, &le) {
		fmt.Fprintln(stderr, strings.TrimRight(err.Error(), "\n"))
		return
	}
	printErrors(stderr, le.Config, le, more)
}

// printErrors prints the errors found before anything starts as one list
// in one format: those of a line of the file ("Clusterfile:7:
// process.web.command: ...") sorted by line, then those of no line (a -w
// that names no type), which say "cluster: " as the flags' errors do. A
// line of an error that does not start with the file stays with the one
// before it.
func printErrors(stderr io.Writer, cfg *procfile.Config, errs ...error) {
	file := filepath.Base(cfg.Path) + ":"
	number := func(rest string) (int, bool) {
		n, err := strconv.Atoi(rest[:strings.IndexFunc(rest+":", func(r rune) bool { return r < '0' || r > '9' })])
		return n, err == nil
	}
	lineOf := func(s string) (int, bool) {
		if rest, ok := strings.CutPrefix(s, file); ok {
			return number(rest)
		}
		// A bad line of .env or of an -e file: before the file's own.
		for _, f := range cfg.EnvFiles {
			if rest, ok := strings.CutPrefix(s, f+":"); ok {
				if _, ok := number(rest); ok {
					return 0, true
				}
			}
		}
		return 0, false
	}
	type entry struct {
		line  int
		text  []string
		where bool
	}
	var all []entry
	for _, err := range errs {
		if err == nil {
			continue
		}
		first := len(all)
		for _, l := range strings.Split(strings.TrimRight(err.Error(), "\n"), "\n") {
			if n, ok := lineOf(l); ok || len(all) == first {
				all = append(all, entry{line: n, where: ok})
			}
			all[len(all)-1].text = append(all[len(all)-1].text, l)
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].where != all[j].where {
			return all[i].where
		}
		return all[i].line < all[j].line
	})
	for _, e := range all {
		for _, l := range e.text {
			if !e.where {
				l = "cluster: " + l
			}
			fmt.Fprintln(stderr, l)
		}
	}
}

// loadChecked is load for run and check, which check the loaded file
// further before anything starts (runner.Preflight: programs in PATH, users,
// sockets): when the file has errors, those checks run on the types that
// did load, with only's selection, and every error is printed at once.
func (c *configFlags) loadChecked(stderr io.Writer, only []string) (*procfile.Config, bool) {
	cfg, err := readConfig(c.file, c.envFiles)
	if err != nil {
		loadError(stderr, c.cmd, c.file, err, c.partialPreflight(err, only))
		return nil, false
	}
	return cfg, c.checkBase(stderr, cfg)
}

// partialPreflight runs the pre-flight checks on what did load of a file
// with errors (procfile.LoadError): the types selected (only, or all) that
// are not broken and have workers. nil when there is nothing to check.
func (c *configFlags) partialPreflight(err error, only []string) error {
	var le *procfile.LoadError
	if !errors.As(err, &le) || le.Config == nil {
		return nil
	}
	cfg := le.Config
	var names []string
	for _, p := range cfg.Processes {
		if le.Broken[p.Name] || len(only) > 0 && !slices.Contains(only, p.Name) {
			continue
		}
		n := p.Workers
		if w, ok := runner.WorkerCount(c.workers, p.Name); ok {
			n = w
		}
		if n > 0 {
			names = append(names, p.Name)
		}
	}
	for _, o := range only { // a type the file does not have: say so now too
		if !slices.ContainsFunc(cfg.Processes, func(p *procfile.Process) bool { return p.Name == o }) {
			names = append(names, o)
		}
	}
	if len(names) == 0 {
		return nil
	}
	return runner.Preflight(c.runnerOptions(cfg, names))
}

// reread loads path again for a reload (Options.Reread): a file with errors
// gets the pre-flight checks on what did load, as check and run do, and its
// error is the merged list, one line per error, as check prints it.
func (c *configFlags) reread(path string) (*procfile.Config, error) {
	cfg, err := procfile.LoadEnvFiles(path, c.envFiles)
	if err == nil {
		return cfg, nil
	}
	var le *procfile.LoadError
	if !errors.As(err, &le) {
		return nil, err
	}
	var b strings.Builder
	printErrors(&b, le.Config, le, c.partialPreflight(err, nil))
	return nil, &mergedError{text: strings.TrimRight(b.String(), "\n"), err: err}
}

// mergedError is a LoadError with the pre-flight's errors merged in.
type mergedError struct {
	text string
	err  error
}

func (e *mergedError) Error() string { return e.text }
func (e *mergedError) Unwrap() error { return e.err }

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

// configFlags are the flags run and check share: what to load and how many
// workers of each type, and foreman's PORT base.
type configFlags struct {
	cmd      string // the command's name, for errors
	file     string
	envFiles envFileList
	workers  workerCounts
	port     portFlag
}

// envFileList is -e FILE,... (repeatable): dotenv files, as foreman's -e: a
// Procfile's instead of its .env, a Clusterfile's after its env_file;
// relative to the current directory.
type envFileList []string

func (e *envFileList) String() string { return strings.Join(*e, ",") }

func (e *envFileList) Set(s string) error {
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			return errors.New("want FILE,...")
		}
		abs, err := filepath.Abs(f)
		if err != nil {
			return err
		}
		*e = append(*e, abs)
	}
	return nil
}

// load loads the file -f names with the -e files, and checks the PORT
// that is foreman's base when --port is not given.
func (c *configFlags) load(stderr io.Writer) (*procfile.Config, bool) {
	cfg, ok := loadConfig(c.cmd, c.file, stderr, c.envFiles...)
	return cfg, ok && c.checkBase(stderr, cfg)
}

// checkBase checks the PORT that is foreman's base when --port is not given.
func (c *configFlags) checkBase(stderr io.Writer, cfg *procfile.Config) bool {
	if !c.port.set {
		if err := checkPortBase(cfg); err != nil {
			fmt.Fprintln(stderr, err)
			return false
		}
	}
	return true
}

// checkPortBase rejects a PORT in the config's env (the OS env, env files,
// [env]) that is not a port, when it is the base of foreman's numbering
// (some type has no listen and no PORT of its own): it fell back to 5000.
// An empty one is as good as unset.
func checkPortBase(cfg *procfile.Config) error {
	v := ""
	for _, kv := range cfg.Env {
		if val, ok := strings.CutPrefix(kv, "PORT="); ok {
			v = strings.TrimSpace(val)
		}
	}
	if v == "" || !slices.ContainsFunc(cfg.Processes, func(p *procfile.Process) bool {
		_, own := p.OwnPort()
		return len(p.Listen) == 0 && !own
	}) {
		return nil
	}
	_, err := procfile.ParsePort(v)
	if err == nil {
		return nil
	}
	where := "PORT in the environment"
	if src, ok := cfg.EnvFrom["PORT"]; ok {
		where = src.Where
	}
	return fmt.Errorf("%s: %v: it is the base of foreman's PORT numbering; fix it, or give --port", where, err)
}

// portFlag is --port; set says whether the user gave it, so PORT from the
// env can be the base otherwise (foreman's order: --port, $PORT, 5000).
type portFlag struct {
	n   int
	set bool
}

func (p *portFlag) String() string {
	if p == nil || !p.set {
		return ""
	}
	return strconv.Itoa(p.n)
}

func (p *portFlag) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return errors.New("parse error") // what the flag package's own IntVar says; flagError rewrites it
	}
	p.n, p.set = n, true
	return nil
}

func (c *configFlags) define(fs *flag.FlagSet) {
	c.defineFile(fs)
	fs.Var(c.workers, "w", "`PROCESS=N,...` worker counts that override the file, e.g. -w web=4,worker=1; all=N: every type not named")
}

// defineFile defines the flags exec shares with run and check: -f, --port.
func (c *configFlags) defineFile(fs *flag.FlagSet) {
	c.cmd, c.workers = fs.Name(), workerCounts{}
	fs.StringVar(&c.file, "f", "", "`FILE` the Clusterfile or Procfile (default: Clusterfile, else Procfile)")
	fs.Var(&c.envFiles, "e", "`FILE,...` dotenv files (later ones win): a Procfile's instead of its .env; a Clusterfile's after env_file, before [env]")
	fs.Var(&c.port, "port", "`N` base of foreman's PORT for types without listen (default: PORT from the env or .env, else 5000)")
}

// check validates the flags' values; "" when they are fine.
func (c *configFlags) check() string {
	if c.port.set && (c.port.n <= 0 || c.port.n > 65535) {
		return fmt.Sprintf("--port %d: want 1-65535", c.port.n)
	}
	return ""
}

// portBase is foreman's base port: --port, else PORT in the config's env
// (the OS env, env files and [env]; load rejected a bad one that is used),
// else 5000.
func (c *configFlags) portBase(cfg *procfile.Config) int {
	if c.port.set {
		return c.port.n
	}
	for i := len(cfg.Env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(cfg.Env[i], "PORT="); ok {
			if n, err := procfile.ParsePort(v); err == nil {
				return n
			}
			break
		}
	}
	return 5000
}

// runnerOptions are the options run and check give the runner, so check's
// pre-flight is run's.
func (c *configFlags) runnerOptions(cfg *procfile.Config, only []string) runner.Options {
	return runner.Options{Config: cfg, Only: only, Workers: c.workers, PortBase: c.portBase(cfg)}
}

// startError prints an error the runner found before starting anything, as
// run and check both print it, and as the file's own errors are printed
// (printErrors): "Clusterfile:7: process.web.command: ...".
func startError(stderr io.Writer, cfg *procfile.Config, err error) {
	printErrors(stderr, cfg, err)
}

type runFlags struct {
	configFlags
	watch      bool
	noWatch    bool
	color      string
	logFormat  string
	timestamps bool
	metrics    string
	health     string
}

const runSynopsis = `[-f FILE] [-e FILE,...] [-w PROCESS=N,...] [--watch | --no-watch]
[--color auto|always|never] [--log-format text|json] [--timestamps] [--port N]
[--metrics ADDR] [--health ADDR] [PROCESS ...] [-- COMMAND [ARG ...]]`

func cmdRun(args []string, stdout, stderr io.Writer) int {
	args, command, dashes := splitDashes(args)
	var f runFlags
	fs := newFlags("run", runSynopsis, stdout)
	f.define(fs)
	fs.BoolVar(&f.watch, "watch", false, "watch the files of types that declare watch even where it is off by default ($CI set, PID 1)")
	fs.BoolVar(&f.noWatch, "no-watch", false, "do not watch files")
	fs.StringVar(&f.color, "color", "auto", "`auto|always|never` colour the output; auto: when stdout is a terminal and NO_COLOR is empty")
	fs.StringVar(&f.logFormat, "log-format", "text", "`text|json` one prefixed line, or one JSON object, per line of output")
	fs.BoolVar(&f.timestamps, "timestamps", false, "prefix every line with the time")
	fs.StringVar(&f.metrics, "metrics", "", "`ADDR` serve Prometheus metrics at http://ADDR/metrics (loopback unless ADDR names a host)")
	fs.StringVar(&f.health, "health", "", "`ADDR` serve /livez and /readyz at http://ADDR (loopback unless ADDR names a host; may be the --metrics address)")
	only, code := parseFlags(fs, args, stderr)
	if code >= 0 {
		return code
	}
	bad := f.configFlags.check()
	switch {
	case bad != "": // -f, -w, --port
	case f.color != "auto" && f.color != "always" && f.color != "never":
		bad = fmt.Sprintf("--color %q: want auto, always or never", f.color)
	case f.logFormat != "text" && f.logFormat != "json":
		bad = fmt.Sprintf("--log-format %q: want text or json", f.logFormat)
	case f.watch && f.noWatch:
		bad = "--watch and --no-watch contradict each other"
	case dashes && len(command) == 0:
		bad = "-- needs a COMMAND"
	case f.watch && len(command) > 0:
		bad = "--watch does not go with -- COMMAND: the cluster runs until COMMAND exits, without reloads"
	}
	if bad != "" {
		usageError(stderr, "run", "%s", bad)
		return 2
	}
	sigs, notified := notifyRunSignals(len(command) > 0)
	stdout, stderr = noSIGPIPE(underlying(stdout)), noSIGPIPE(stderr) // logmux reports on its own failed writes
	cfg, ok := f.loadChecked(stderr, only)
	if !ok {
		return 2
	}
	cmdPath := ""
	if len(command) > 0 {
		// COMMAND is found in the cluster's PATH, as `cluster exec` finds
		// it, and before any worker starts. It runs in this directory.
		var err error
		if cmdPath, err = runner.LookPath(command[0], ".", cfg.Env); err != nil {
			fmt.Fprintf(stderr, "cluster: %v\n", err)
			return 127
		}
	}
	color := useColor(f.color, stdout)
	mux := logmux.New(stdout, logmux.Options{
		Color: color, JSON: f.logFormat == "json", Timestamps: f.timestamps,
		Terminal: isTerminal(stdout), Errors: stderr,
	})
	out := &outputCloser{mux: mux, stderr: stderr}
	defer out.close(0)
	// Colors in Clusterfile order, as `cluster logs` gives them; types a
	// reload adds get the next ones (opts.Adding).
	names := make([]string, len(cfg.Processes))
	for i, p := range cfg.Processes {
		names[i] = p.Name
	}
	mux.SetProcesses(names...)
	// A Procfile's release type runs first, once, to completion (Heroku's
	// release phase); the other types start only when it exits 0.
	selected := only
	release := releaseFirst(cfg, only, f.workers)
	if release {
		only = withoutRelease(cfg, only)
		if len(only) == 0 && len(command) == 0 { // `cluster run release`
			<-notified
			mux.SetNames(labels(cfg, selected, f.workers)...)
			opts := f.runnerOptions(cfg, nil)
			opts.Color = color
			return runRelease(opts, muxOutput{m: mux}, stderr, nil, nil, sigs)
		}
		release = len(only) > 0
	}
	watching := watchWanted(cfg, only, f) && len(command) == 0

	// Under systemd (Type=notify), say READY=1, RELOADING=1, STOPPING=1,
	// STATUS= and WATCHDOG=1 ourselves; NOTIFY_SOCKET never reaches workers.
	notify, err := newNotifier(os.Getenv("NOTIFY_SOCKET"))
	if err != nil {
		mux.Printf("not speaking sd_notify: %v", err)
	}
	watchdog, err := watchdogInterval()
	if err != nil {
		mux.Printf("no watchdog pings: %v", err)
	}
	opts := f.runnerOptions(cfg, only)
	trim := newTrimLoop()
	trimCtx, stopTrim := context.WithCancel(context.Background())
	defer stopTrim()
	go trim.run(trimCtx)
	opts.Color, opts.Output, opts.ReapAll, opts.Watch = color, muxOutput{mux, notify, trim}, true, watching
	opts.Reread = func() (*procfile.Config, error) { return f.reread(cfg.Path) }
	opts.Adding = func(names []string) { mux.SetProcesses(names...) } // the next colours, as the runner tells `cluster logs`
	watchFiles := watching || (f.watch && len(command) == 0)
	applied := newAppliedConfigs()
	if watchFiles {
		opts.Applied = applied.set
	}
	r, err := runner.New(opts)
	if err != nil {
		mux.Close()
		startError(stderr, opts.Config, err)
		return 2
	}
	ctl, err := listenControl(cfg.Dir)
	if err != nil {
		r.Close()
		mux.Close()
		fmt.Fprintf(stderr, "cluster: %v\n", err)
		return 2
	}
	defer ctl.Shutdown(controlGrace)
	go ctl.Serve(r)
	stopHTTP, err := serveHTTP(r, f.metrics, f.health, mux)
	if err != nil {
		r.Close()
		mux.Close()
		fmt.Fprintf(stderr, "cluster: %v\n", err)
		return 2
	}
	defer stopHTTP()

	<-notified // before the first fork
	mux.SetNames(labels(cfg, selected, f.workers)...)
	if err := runner.BecomeSubreaper(); err != nil {
		mux.Printf("cannot become a child subreaper (%v): orphaned grandchildren will not be reaped", err)
	}
	if release {
		// The control socket answers for the release meanwhile: r has not
		// started, and a `cluster stop` ends the release and the run.
		ropts := opts
		ropts.Output = muxOutput{m: mux, trim: trim}
		stopReq := make(chan struct{}, 1)
		serve := func(rel *runner.Runner) {
			ctl.ServeRelease(rel, r, func() {
				select {
				case stopReq <- struct{}{}:
				default:
				}
			})
		}
		releasePhase.Store(true)
		status := runRelease(ropts, ropts.Output, stderr, serve, stopReq, sigs)
		releasePhase.Store(false)
		if status != 0 || ctl.EndRelease() {
			r.Close()
			if status == 0 && len(command) > 0 {
				// Stopped during the release: COMMAND never ran, and a CI
				// job must not pass on it (as without a release phase).
				fmt.Fprintf(stderr, "cluster: not running %q: the cluster stopped before it was ready\n", strings.Join(command, " "))
				return 1
			}
			return status
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stopSignal atomic.Value                // os.Signal
	var forward atomic.Pointer[commandSignals] // set while -- COMMAND runs
	go func() {
		for s := range sigs {
			if fw := forward.Load(); fw != nil && fw.pass(s) {
				continue // COMMAND's, as under tini: no stop, no reload
			}
			switch s {
			case syscall.SIGINT, syscall.SIGTERM:
				if stopSignal.CompareAndSwap(nil, s) {
					cancel()
				} else if s == syscall.SIGINT {
					r.Kill()
				}
			case syscall.SIGQUIT:
				stopSignal.CompareAndSwap(nil, s)
				r.Kill()
			case syscall.SIGHUP:
				go r.ReloadConfig(nil, true)
			case syscall.SIGTTIN:
				go r.ScaleListening(1)
			case syscall.SIGTTOU:
				go r.ScaleListening(-1)
			case syscall.SIGWINCH: // ignored without a word: a resize sends dozens
			case syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGALRM:
				r.Log(fmt.Sprintf("%s ignored: it is for -- COMMAND, which is not running", unix.SignalName(s.(syscall.Signal))))
			}
		}
	}()
	if watchFiles {
		stopWatch, err := startWatching(ctx, cfg, f.envFiles, only, r, mux, applied)
		if err != nil {
			mux.Printf("file watching is off: %v", err)
		} else {
			defer boundedWait(stopWatch) // it may be printing to an output nobody reads
		}
	}

	runErr := make(chan error, 1)
	go func() { runErr <- r.Run(ctx) }()
	onReady := trim.settle // start-up is over: its code and garbage can go
	if notify != nil {
		defer notify.close(notifyGrace) // after nstop: STOPPING=1 is the last word
		nctx, nstop := context.WithCancel(context.Background())
		defer nstop() // after Run returned: watchdog pings go on while the workers stop
		go notify.run(nctx, r, watchdog)
		onReady = func() {
			notify.Ready()
			trim.settle()
		}
	}
	cmdStatus := -1
	if len(command) > 0 {
		stoppedBy := func() (int, bool) {
			sig, _ := stopSignal.Load().(os.Signal)
			return stopStatus(sig)
		}
		cmdStatus = runCommand(r, cfg, cmdPath, command, cancel, stoppedBy, runErr, &forward, stderr, onReady)
	} else {
		go func() {
			if err := <-r.Ready(); err == nil {
				onReady()
			}
		}()
	}
	err = <-runErr
	// Lines that could not be written and never reported on the output
	// were lost: Close says so on stderr, and a clean run does not exit 0.
	lost := out.close(r.Unwritten())
	if cmdStatus >= 0 {
		return cmdStatus
	}
	sig, _ := stopSignal.Load().(os.Signal)
	switch {
	case errors.Is(err, runner.ErrKilled) && sig == syscall.SIGQUIT:
		return 131 // SIGQUIT stops at once: the kill is what it asked for
	case errors.Is(err, runner.ErrFailed), errors.Is(err, runner.ErrKilled):
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "cluster: %v\n", err)
		return 1
	}
	if code, ok := stopStatus(sig); ok {
		return code
	}
	if lost {
		return 1
	}
	return 0
}

// outputCloser closes the run's mux once, without hanging on an output
// nobody reads.
type outputCloser struct {
	mux    *logmux.Mux
	stderr io.Writer
	once   sync.Once
	lost   bool
}

// closeWait bounds each wait of close on the output: the mux's Close, and
// the line on stderr that says what was not written.
const closeWait = 100 * time.Millisecond

// close closes the mux (lines lost and not reported on the output are said
// on stderr) and reports whether lines were lost. unwritten is how many of
// the runner's events Run could not write. A write to an output nobody
// reads (a pipe whose reader stopped) blocks, holding the mux's lock, for
// as long as it stays unread: Close is then not waited for past closeWait,
// and what was not written is said on stderr and counts as lost.
func (c *outputCloser) close(unwritten int) bool {
	c.once.Do(func() {
		done := make(chan bool, 1)
		go func() { done <- c.mux.Close() != nil }()
		t := time.NewTimer(closeWait)
		defer t.Stop()
		select {
		case c.lost = <-done:
			if unwritten == 0 {
				return
			}
		case <-t.C:
		}
		c.lost = true
		note := "cluster: nobody read the output: the worker lines still waiting for it were not written\n"
		if unwritten > 0 {
			note = fmt.Sprintf("cluster: nobody read the output: %s of the runner, and the worker lines waiting with them, were not written\n", plural(unwritten, "event"))
		}
		boundedWait(func() { io.WriteString(c.stderr, note) }) // stderr may be that output too
	})
	return c.lost
}

// boundedWait runs f, waiting for it closeWait at most: what f waits for
// may be blocked on an output nobody reads, and the run must end anyway.
func boundedWait(f func()) {
	done := make(chan struct{})
	go func() { f(); close(done) }()
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// controlGrace bounds how long a run that has ended still answers the
// control requests it is answering (the `cluster stop` that ended it): well
// inside the 2 s that README allows past shutdown_timeout.
const controlGrace = 500 * time.Millisecond

// notifyGrace bounds how long a run that has ended waits for a
// NOTIFY_SOCKET receiver that does not read to take its last messages.
const notifyGrace = 500 * time.Millisecond

// notifyRunSignals asks for the signals `cluster run` handles, on a
// goroutine of its own: each signal.Notify of a new signal waits for a
// round trip to the runtime's signal thread (tens of µs, more while other
// threads start; 80-350 µs for all of them on a 2-core VM), so the
// Clusterfile is read meanwhile.
// notified is closed once all are asked for; no worker starts before.
//
// Nothing calls signal.Stop: the process exits when cmdRun returns (a
// Stop is the same round trip again), and a signal that comes after the
// runner has stopped is read and changes nothing.
//
// With a `-- COMMAND`, USR1, USR2, WINCH and ALRM are asked for too, to be
// passed on to it (ignored before it runs).
func notifyRunSignals(command bool) (sigs chan os.Signal, notified chan struct{}) {
	sigs, notified = make(chan os.Signal, 8), make(chan struct{})
	go func() {
		want := []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGHUP, syscall.SIGTTIN, syscall.SIGTTOU}
		if command {
			want = append(want, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGALRM)
		}
		signal.Notify(sigs, want...)
		close(notified)
	}()
	return sigs, notified
}

// noSIGPIPE returns w, or when w is the process's stdout or stderr, a
// duplicate of its descriptor. A closed stdout (`cluster run | head`) must
// not kill the runner: Go turns a broken-pipe write on descriptor 1 or 2
// into death by SIGPIPE, on any other descriptor into an EPIPE error, which
// logmux counts as lost lines while supervision goes on. (Notifying SIGPIPE
// would do the same, for one more round trip to the signal thread at
// start.) Workers still start with SIGPIPE at its default.
func noSIGPIPE(w io.Writer) io.Writer {
	f, ok := w.(*os.File)
	if !ok || (f != os.Stdout && f != os.Stderr) {
		return w
	}
	rc, err := f.SyscallConn() // not Fd: that would make the descriptor blocking
	if err != nil {
		return w
	}
	fd := -1
	rc.Control(func(old uintptr) { fd, err = unix.FcntlInt(old, unix.F_DUPFD_CLOEXEC, 3) })
	if err != nil {
		return w // out of descriptors: the runner will not get far
	}
	return os.NewFile(uintptr(fd), f.Name())
}

const execSynopsis = "[-f FILE] [-e FILE,...] [--port N] [PROCESS] -- COMMAND [ARG ...]"

// cmdExec is foreman's run: COMMAND with the env, directory and user of
// PROCESS (of the cluster without one), without starting anything. It
// replaces this process (exec), so COMMAND's status and signals are its own.
func cmdExec(args []string, stdout, stderr io.Writer) int {
	args, command, dashes := splitDashes(args)
	var f configFlags
	fs := newFlags("exec", execSynopsis, stdout)
	f.defineFile(fs)
	var flagErr strings.Builder
	pos, code := parseFlags(fs, args, &flagErr)
	if code == 2 && !dashes && strings.Contains(flagErr.String(), "unknown flag") {
		// `cluster exec web ls -la`: -la is the command's.
		msg := strings.Replace(flagErr.String(), "; see", "; a command and its flags go after --: cluster exec [PROCESS] -- COMMAND [ARG ...]; see", 1)
		flagErr.Reset()
		flagErr.WriteString(msg)
	}
	io.WriteString(stderr, flagErr.String())
	if code >= 0 {
		return code
	}
	switch {
	case f.check() != "":
		usageError(stderr, "exec", "%s", f.check())
		return 2
	case !dashes && len(pos) > 0:
		usageError(stderr, "exec", "want [PROCESS] -- COMMAND%s", execHint(&f, pos))
		return 2
	case len(pos) > 1:
		usageError(stderr, "exec", "one PROCESS at most, got %s", strings.Join(pos, " "))
		return 2
	case !dashes || len(command) == 0:
		usageError(stderr, "exec", "want [PROCESS] -- COMMAND")
		return 2
	}
	cfg, ok := f.load(stderr)
	if !ok {
		return 2
	}
	process, dir, user := "", cfg.Dir, ""
	if len(pos) == 1 {
		process = pos[0]
		for _, p := range cfg.Processes {
			if p.Name == process {
				dir, user = p.Dir, p.User
			}
		}
	}
	env, err := runner.ExecEnv(f.runnerOptions(cfg, nil), process)
	if err != nil {
		fmt.Fprintf(stderr, "cluster exec: %v\n", err)
		return 2
	}
	cred, err := runner.Credential(user)
	if err != nil {
		fmt.Fprintf(stderr, "cluster exec: user %v\n", err)
		return 2
	}
	path, err := runner.LookPath(command[0], dir, env)
	if err != nil {
		fmt.Fprintf(stderr, "cluster exec: %v\n", err)
		return 127
	}
	if cred != nil {
		// As the type's workers run: its user, then its dir as that user.
		if err := runner.SwitchUser(cred); err != nil {
			fmt.Fprintf(stderr, "cluster exec: user %s: %v\n", user, err)
			return 2
		}
	}
	if err := os.Chdir(dir); err != nil {
		fmt.Fprintf(stderr, "cluster exec: %v\n", err)
		return 2
	}
	err = syscall.Exec(path, command, env)
	if errors.Is(err, syscall.ENOEXEC) {
		if sh, shArgv, ok := runner.ShellFallback(path, command); ok {
			err = syscall.Exec(sh, shArgv, env) // a script without "#!": sh runs it, as execvp does
		}
	}
	fmt.Fprintf(stderr, "cluster exec: %s: %v\n", command[0], err)
	return 126
}

// execHint says where the -- goes that `cluster exec a echo hi` lacks: after
// the first word when it names a type, else first; "" for a type alone.
func execHint(f *configFlags, pos []string) string {
	process := ""
	if cfg, ok := f.load(io.Discard); ok {
		for _, p := range cfg.Processes {
			if p.Name == pos[0] {
				process = p.Name + " "
			}
		}
	}
	command := pos
	if process != "" {
		command = pos[1:]
	}
	if len(command) == 0 {
		return ""
	}
	return ": put -- before the command: cluster exec " + process + "-- " + quoteArgv(command)
}

// releaseFirst reports whether run has a release phase: the file is a
// Procfile with a type named release, selected and not disabled (SPEC: in a
// Clusterfile, release is an ordinary name).
func releaseFirst(cfg *procfile.Config, only []string, counts workerCounts) bool {
	if cfg.Format != procfile.FormatProcfile || (len(only) > 0 && !slices.Contains(only, "release")) {
		return false
	}
	for _, p := range cfg.Processes {
		if p.Name == "release" {
			n, ok := runner.WorkerCount(counts, p.Name)
			return !ok && p.Workers > 0 || n > 0
		}
	}
	return false
}

// withoutRelease lists the selected types but release.
func withoutRelease(cfg *procfile.Config, only []string) []string {
	var out []string
	for _, p := range cfg.Processes {
		if p.Name != "release" && (len(only) == 0 || slices.Contains(only, p.Name)) {
			out = append(out, p.Name)
		}
	}
	return out
}

// runRelease runs the release type once, to completion, as a cluster of its
// own: one worker, restart never, ready once started, no watching. It
// returns 0 when it exited 0, else its status (128+N for signal N), with its
// last lines on stderr; 130/143/131 when SIGINT/SIGTERM/SIGQUIT stopped it.
// serve (nil: none) is given the release's runner before it starts, for the
// control socket; a value on stopReq (`cluster stop`) stops it gracefully,
// and it returns 0 then (1 when a worker had to be killed): the caller
// learns from the control socket that the run must end.
//
// It reads sigs, run's signals, meanwhile: SIGHUP, SIGTTIN and SIGTTOU are
// ignored, each with a line, not kept for the cluster to replay after it.
func runRelease(opts runner.Options, out runner.Output, stderr io.Writer, serve func(*runner.Runner), stopReq <-chan struct{}, sigs <-chan os.Signal) int {
	cfg := *opts.Config
	cfg.Processes = slices.Clone(cfg.Processes)
	for i, p := range cfg.Processes {
		if p.Name == "release" {
			rel := *p
			rel.Restart = procfile.RestartNever
			rel.Ready = procfile.Ready{Kind: procfile.ReadyStarted, Timeout: p.Ready.Timeout}
			cfg.Processes[i] = &rel
		}
	}
	capture := &releaseOutput{Output: out}
	opts.Config, opts.Only, opts.Workers, opts.Watch, opts.Output = &cfg, []string{"release"}, map[string]int{"release": 1}, false, capture
	r, err := runner.New(opts)
	if err != nil {
		startError(stderr, opts.Config, err)
		return 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if serve != nil {
		serve(r)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var stopped os.Signal
	byControl := false
	for {
		select {
		case <-stopReq:
			if stopped == nil && !byControl {
				byControl = true
				go r.Stop() // as cancel, with the event saying why: "stopping (cluster stop)"
			}
			continue
		case s := <-sigs:
			switch {
			case s == syscall.SIGHUP || s == syscall.SIGTTIN || s == syscall.SIGTTOU:
				// The cluster starts with the file as it is then anyway, and
				// has no worker to scale yet.
				r.Log(fmt.Sprintf("%s ignored: the release phase is running; the other types start after it, with the current file", unix.SignalName(s.(syscall.Signal))))
			case s == syscall.SIGWINCH: // ignored without a word: a resize sends dozens
			case s == syscall.SIGUSR1 || s == syscall.SIGUSR2 || s == syscall.SIGALRM:
				r.Log(fmt.Sprintf("%s ignored: it is for -- COMMAND, which runs once the cluster is ready", unix.SignalName(s.(syscall.Signal))))
			case stopped == nil && s != syscall.SIGQUIT:
				stopped = s
				cancel()
			case stopped == nil || s == syscall.SIGINT:
				stopped = cmp.Or(stopped, s)
				r.Kill()
			}
			continue
		case err = <-done:
		}
		break
	}
	if code, ok := stopStatus(stopped); ok {
		return code
	}
	if byControl {
		if errors.Is(err, runner.ErrKilled) {
			return 1
		}
		return 0
	}
	status := capture.status()
	if err == nil && status == 0 {
		return 0
	}
	if status == 0 {
		status = 1
	}
	lines := capture.tail()
	fmt.Fprintf(stderr, "cluster: release %s: not starting the other types; its last %s:\n", capture.how(), plural(len(lines), "line"))
	for _, l := range lines {
		fmt.Fprintf(stderr, "  %s\n", l)
	}
	return status
}

// releaseOutput passes the release worker's output on and keeps its exit
// status and last lines.
type releaseOutput struct {
	runner.Output
	mu    sync.Mutex
	code  int
	exit  string // "exited with status 4", "was killed by SIGTERM"
	lines []string
}

const releaseTail = 20

func (o *releaseOutput) Stream(s runner.Stream) io.WriteCloser {
	next := s.OnLine
	s.OnLine = func(line []byte) {
		o.mu.Lock()
		o.lines = append(o.lines, string(line))
		if len(o.lines) > releaseTail {
			o.lines = o.lines[len(o.lines)-releaseTail:]
		}
		o.mu.Unlock()
		if next != nil {
			next(line)
		}
	}
	return o.Output.Stream(s)
}

func (o *releaseOutput) Event(e runner.Event) {
	if e.Event == "exited" {
		o.mu.Lock()
		switch {
		case e.Status != nil:
			o.code, o.exit = *e.Status, fmt.Sprintf("exited with status %d", *e.Status)
		case e.Signal != "":
			o.code, o.exit = 128+int(unix.SignalNum(e.Signal)), "was killed by "+e.Signal
		}
		o.mu.Unlock()
	}
	o.Output.Event(e)
}

func (o *releaseOutput) status() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.code
}

func (o *releaseOutput) how() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return cmp.Or(o.exit, "failed")
}

func (o *releaseOutput) tail() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.lines)
}

// runCommand waits for every worker to be ready, runs COMMAND with the
// cluster's env and the terminal's stdio, then stops the cluster. It returns
// COMMAND's status, or 1 when the cluster never became ready. While
// COMMAND runs, forward holds where the runner's signals go instead.
func runCommand(r *runner.Runner, cfg *procfile.Config, path string, command []string, stop func(), stoppedBy func() (int, bool), runErr chan error, forward *atomic.Pointer[commandSignals], stderr io.Writer, onReady func()) int {
	defer stop()
	select {
	case err := <-r.Ready():
		if err != nil {
			stop()
			var nre *runner.NotReadyError
			if errors.As(err, &nre) {
				what := nre.Worker + " " + nre.Why
				if len(nre.Lines) == 0 {
					fmt.Fprintf(stderr, "cluster: not running %q: %s; it printed nothing\n", strings.Join(command, " "), what)
				} else {
					fmt.Fprintf(stderr, "cluster: not running %q: %s; its last %s:\n", strings.Join(command, " "), what, plural(len(nre.Lines), "line"))
				}
				for _, l := range nre.Lines {
					fmt.Fprintf(stderr, "  %s\n", l)
				}
			} else {
				fmt.Fprintf(stderr, "cluster: not running %q: the cluster stopped before it was ready\n", strings.Join(command, " "))
			}
			if code, ok := stoppedBy(); ok {
				return code // Ctrl-C or SIGTERM while it started: 130, 143
			}
			return 1
		}
	case err := <-runErr:
		runErr <- err
		fmt.Fprintf(stderr, "cluster: not running %q: the cluster stopped before it was ready\n", strings.Join(command, " "))
		return 1
	}
	// From here on the runner's signals are COMMAND's. One that came
	// since the cluster was ready has stopped it: COMMAND is not run.
	fw := &commandSignals{ch: make(chan os.Signal, 16), done: make(chan struct{})}
	forward.Store(fw)
	defer func() {
		forward.Store(nil)
		close(fw.done) // a signal being passed on now is the cluster's again
	}()
	if code, ok := stoppedBy(); ok {
		fmt.Fprintf(stderr, "cluster: not running %q: the cluster was stopped\n", strings.Join(command, " "))
		return code
	}
	onReady()
	r.Log("every worker is ready: running " + strings.Join(command, " "))
	// The cluster's env without the runner's own LISTEN_*, NOTIFY_SOCKET
	// and WATCHDOG_*, as cluster exec gives it: they are not COMMAND's.
	env, _ := runner.ExecEnv(runner.Options{Config: cfg}, "")
	status, sig, err := r.Exec(path, command, env, fw.ch, cfg.ShutdownTimeout)
	if err != nil {
		fmt.Fprintf(stderr, "cluster: %s: %v\n", command[0], err)
		return 127
	}
	if sig != 0 {
		r.Log(fmt.Sprintf("%s was killed by %s: stopping the cluster", command[0], runner.SignalName(sig)))
	} else {
		r.Log(fmt.Sprintf("%s exited with status %d: stopping the cluster", command[0], status))
	}
	return status
}

// commandSignals takes the runner's signals while `-- COMMAND` runs, for
// Exec to pass on: every one the runner asks for but TTIN and TTOU (which
// tini does not pass on either; they still scale the cluster).
type commandSignals struct {
	ch   chan os.Signal
	done chan struct{} // closed once Exec returned: nobody reads ch any more
}

// pass hands s to COMMAND, or reports false when it is the cluster's:
// TTIN, TTOU, or COMMAND has exited meanwhile.
func (c *commandSignals) pass(s os.Signal) bool {
	if s == syscall.SIGTTIN || s == syscall.SIGTTOU {
		return false
	}
	select {
	case c.ch <- s:
		return true
	case <-c.done:
		return false
	}
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
		if c, ok := runner.WorkerCount(counts, p.Name); ok {
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

// interrupts delivers SIGINT, SIGTERM and SIGHUP to a client command that
// must clean up before it exits (status --watch restores the terminal);
// stop gives them back their default action.
func interrupts() (sigs <-chan os.Signal, stop func()) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	return c, func() { signal.Stop(c) }
}

func isTerminal(w io.Writer) bool {
	f, ok := outputFile(w)
	return ok && isatty.IsTerminal(f.Fd())
}

// muxOutput adapts logmux to runner.Output (runner may not import logmux).
type muxOutput struct {
	m      *logmux.Mux
	notify *notifier // nil unless NOTIFY_SOCKET is set
	trim   *trimLoop // poked by every write and event; nil: none
}

func (o muxOutput) Stream(s runner.Stream) io.WriteCloser {
	w := o.m.Writer(logmux.Stream{Process: s.Process, Worker: s.Worker, PID: s.PID, Stream: s.Stream, OnLine: s.OnLine, Pending: s.Pending})
	if o.trim != nil {
		return pokeWriter{w, o.trim}
	}
	return w
}

func (o muxOutput) Event(e runner.Event) {
	if o.trim != nil {
		o.trim.poke()
	}
	if o.notify != nil {
		o.notify.Event(e)
	}
	if e.Event == "reload_finished" {
		return // for sd_notify: each type's reload printed its own end
	}
	o.m.Event(logmux.Event{Worker: e.Worker, Event: e.Event, PID: e.PID, Status: e.Status, Signal: e.Signal, Message: e.Message, Fields: e.Fields})
}

func cmdVersion(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("version", "", stdout)
	pos, code := parseFlags(fs, args, stderr)
	if code >= 0 {
		return code
	}
	if len(pos) > 0 {
		usageError(stderr, "version", "unexpected argument %q", pos[0])
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

// splitDashes splits "FLAGS ... -- COMMAND ..." at the first "--".
func splitDashes(args []string) (before, command []string, dashes bool) {
	for i, a := range args {
		if a == "--" {
			return args[:i], args[i+1:], true
		}
	}
	return args, nil, false
}

// stopStatus is the exit status of a run stopped by sig: the shell's
// 128+N for SIGINT (130), SIGTERM (143) and SIGQUIT (131).
func stopStatus(sig os.Signal) (int, bool) {
	switch sig {
	case syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT:
		return 128 + int(sig.(syscall.Signal)), true
	}
	return 0, false
}
