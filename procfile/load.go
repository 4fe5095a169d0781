package procfile

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/bits"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
)

// Find returns the configuration file of dir: Clusterfile, else Procfile.
func Find(dir string) (string, error) {
	for _, name := range []string{"Clusterfile", "Procfile"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	abs, _ := filepath.Abs(dir)
	others, misnamed := otherConfigs(dir)
	return "", &NoConfigError{Dir: abs, Others: others, Misnamed: misnamed}
}

// NoConfigError is Find's error: dir has neither a Clusterfile nor a
// Procfile. Others are the files beside them that -f could name instead
// (Clusterfile.example, Procfile.dev), sorted. Misnamed are Procfiles by
// their name in another case (procfile.dev): -f reads a name that does not
// start with "Procfile" as a Clusterfile, so they are to be renamed.
type NoConfigError struct {
	Dir      string
	Others   []string
	Misnamed []string
}

func (e *NoConfigError) Error() string {
	return fmt.Sprintf("no Clusterfile or Procfile in %s (use -f FILE)", e.Dir)
}

// otherConfigs lists the regular files of dir whose name starts with
// "Clusterfile." (any case: -f reads it as a Clusterfile) or "Procfile.",
// as -f would take them; and, apart, those that start with "procfile." in
// another case, which -f would read as a Clusterfile.
func otherConfigs(dir string) (others, misnamed []string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil
	}
	for _, e := range entries {
		name, lower := e.Name(), strings.ToLower(e.Name())
		switch {
		case !e.Type().IsRegular():
		case strings.HasPrefix(lower, "clusterfile."), strings.HasPrefix(name, "Procfile."):
			others = append(others, name)
		case strings.HasPrefix(lower, "procfile."):
			misnamed = append(misnamed, name)
		}
	}
	return others, misnamed // ReadDir sorts by name
}

// ReadError is Load's error when the file itself cannot be read (it does
// not exist, is a directory, is too large): the path is wrong, not a line.
type ReadError struct {
	Path string
	Err  error
}

func (e *ReadError) Error() string {
	var pe *fs.PathError
	if errors.As(e.Err, &pe) {
		return e.Path + ": " + pe.Err.Error() // not "stat PATH: ..."
	}
	return e.Err.Error() // it names the file already
}

func (e *ReadError) Unwrap() error { return e.Err }

// Load reads and validates a Clusterfile (TOML) or, when the file's name
// starts with "Procfile", a Procfile. Every problem is reported at once, one
// per line, as "FILE:LINE: process.NAME.KEY: what is wrong". A path that is
// not a regular file, or a file over MaxFileSize, is an error before anything
// is read.
func Load(path string) (*Config, error) {
	return LoadWith(path, os.Environ(), runtime.NumCPU())
}

// LoadEnvFiles is Load with more dotenv files, as `-e` names them: in a
// Clusterfile they are read after its env_file and before [env]; for a
// Procfile they replace the .env beside it, as foreman's and honcho's -e do.
// In order, later ones winning. A relative path is relative to the
// Clusterfile's directory; a missing file is an error.
func LoadEnvFiles(path string, envFiles []string) (*Config, error) {
	return loadWith(path, os.Environ(), runtime.NumCPU(), envFiles)
}

// LoadWith is Load with the OS environment and CPU count given, for tests.
func LoadWith(path string, osEnv []string, numCPU int) (*Config, error) {
	return loadWith(path, osEnv, numCPU, nil)
}

func loadWith(path string, osEnv []string, numCPU int, extraEnvFiles []string) (*Config, error) {
	src, err := readFile(path, path)
	if err != nil {
		return nil, &ReadError{Path: path, Err: err}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	l := &loader{file: filepath.Base(path), path: abs, dir: filepath.Dir(abs), osEnv: osEnv, numCPU: numCPU, extraEnvFiles: extraEnvFiles}
	load := l.clusterfile
	if strings.HasPrefix(filepath.Base(path), "Procfile") {
		load = l.procfile
	}
	cfg, err := load(string(src))
	if cfg != nil {
		cfg.EnvFiles = l.envFiles
	}
	return cfg, err
}

type loader struct {
	file, path, dir string
	osEnv           []string
	numCPU          int
	errs            []lineErr
	broken          map[string]bool // types with an error a pre-flight check would trip on (LoadError)
	envBroken       bool            // an error in the top-level env or env_file: every type is broken
	lines           map[string]int  // dotted key -> line
	envFiles        []string        // read so far, for Config.EnvFiles
	extraEnvFiles   []string        // -e: after env_file, before [env]; a Procfile's instead of .env
}

// EnvFlagError is a file -e names that cannot be read (missing, not a
// regular file, too large): a mistake on the command line, not on a line of
// a file, which main reports as it reports its other flags' errors:
// "-e: env file /abs/x does not exist".
type EnvFlagError struct{ Err error }

func (e *EnvFlagError) Error() string { return "-e: " + e.Err.Error() }
func (e *EnvFlagError) Unwrap() error { return e.Err }

// unreadable is readEnvFile's error when the file could not be read at all
// (as opposed to a bad line in it).
type unreadable struct{ error }

func (u unreadable) Unwrap() error { return u.error }

// readExtraEnv overlays the -e files on e.
func (l *loader) readExtraEnv(e layered) (layered, error) {
	for _, f := range l.extraEnvFiles {
		s, err := l.readEnvFile(f, e.env)
		if _, ok := err.(unreadable); ok {
			return e, &EnvFlagError{Err: err}
		}
		if err != nil {
			l.envErr(err)
			continue
		}
		e = e.with(s, false)
	}
	return e, nil
}

type lineErr struct {
	line  int
	msg   string
	whole bool // msg says where itself ("extra.env:2: ..."): not at a line of the file
}

// envErr records an error of a dotenv file read for every type (.env, -e)
// that no line of the file names: it says where it is itself
// (".env:2: want KEY=value, ..."), comes before the file's own errors, and
// makes every type broken, as the environment they share is not known.
// Loading goes on, so that the file's other errors are reported with it.
func (l *loader) envErr(err error) {
	l.errs = append(l.errs, lineErr{msg: err.Error(), whole: true})
	l.envBroken = true
}

func (l *loader) errf(line int, format string, args ...any) {
	l.errs = append(l.errs, lineErr{line: line, msg: fmt.Sprintf(format, args...)})
}

// err joins every error, sorted by line, each "FILE:LINE: msg".
func (l *loader) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	sort.SliceStable(l.errs, func(i, j int) bool { return l.errs[i].line < l.errs[j].line })
	var errs []error
	for _, e := range l.errs {
		if e.whole {
			errs = append(errs, errors.New(e.msg))
			continue
		}
		errs = append(errs, fmt.Errorf("%s:%d: %s", l.file, e.line, e.msg))
	}
	return errors.Join(errs...)
}

// LoadError is Load's error for a file that was read but is wrong in
// places: one "FILE:LINE: ..." line per problem, sorted by line (Error).
// Config is what did load, for the checks that come after loading (the
// runner's pre-flight: programs found in PATH, users), so that they too are
// reported at once: the types of Broken had an error in a key those checks
// read (command, shell, dir, env, env_file, PORT, user), or in the
// top-level env or env_file, and are not to be checked.
type LoadError struct {
	Config *Config
	Broken map[string]bool
	err    error
}

func (e *LoadError) Error() string { return e.err.Error() }
func (e *LoadError) Unwrap() error { return e.err }

// loadError is the LoadError of cfg, or nil when the file is fine.
func (l *loader) loadError(cfg *Config) error {
	err := l.err()
	if err == nil {
		return nil
	}
	broken := map[string]bool{}
	for _, p := range cfg.Processes {
		if l.envBroken || l.broken[p.Name] {
			broken[p.Name] = true
		}
	}
	cfg.EnvFiles = l.envFiles
	return &LoadError{Config: cfg, Broken: broken, err: err}
}

// since marks the type name broken (LoadError.Broken) when an error was
// recorded after the first n.
func (l *loader) since(n int, name string) {
	if len(l.errs) > n {
		if l.broken == nil {
			l.broken = map[string]bool{}
		}
		l.broken[name] = true
	}
}

// ValidName reports whether s can name a process type: letters, digits,
// '_' and '-', at least one.
func ValidName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return s != ""
}

// expandsPort reports whether p's command, split as it is exec'd, expands
// PORT ($PORT, ${PORT}, ${PORT:-...}, also inside a default), not when
// '$PORT' or \$PORT hands the program the text as written.
func expandsPort(p *Process) bool {
	const mark = "\x01PORT\x01"
	argv, err := splitCommand(p.Command, []string{"PORT=" + mark}, p.FieldSplit)
	if err != nil {
		return false // the command's own error is reported where it is split
	}
	for _, a := range argv {
		if strings.Contains(a, mark) {
			return true
		}
	}
	return false
}

// procfile parses foreman's grammar: "name: command" lines, # comments.
func (l *loader) procfile(src string) (*Config, error) {
	cfg := l.newConfig()
	env := layered{env: l.osEnv}
	// -e replaces the default .env, as in foreman and honcho.
	if _, err := os.Stat(filepath.Join(l.dir, ".env")); err == nil && len(l.extraEnvFiles) == 0 {
		s, err := l.readEnvFile(".env", env.env)
		if err != nil {
			l.envErr(err)
		} else {
			env = env.with(s, false)
		}
	}
	env, err := l.readExtraEnv(env)
	if err != nil {
		return nil, err // -e names a file that cannot be read: the flag's mistake
	}
	cfg.Env, cfg.EnvFrom = env.env, env.from
	seen := map[string]int{}
	for i, raw := range strings.Split(strings.TrimPrefix(src, "\ufeff"), "\n") {
		n := i + 1
		line := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
		if line == "" || line[0] == '#' {
			continue
		}
		name, cmd, ok := strings.Cut(line, ":")
		name, cmd = strings.TrimSpace(name), strings.TrimSpace(cmd)
		switch {
		case !ok:
			l.errf(n, "want \"name: command\", got %q", line)
			continue
		case !ValidName(name):
			l.errf(n, "process name %q: use letters, digits, '_' and '-'", name)
			continue
		case seen[name] > 0:
			l.errf(n, "process %q is already defined on line %d", name, seen[name])
			continue
		case cmd == "":
			l.errf(n, "process.%s.command: empty command", name)
			continue
		}
		seen[name] = n
		p := l.defaults(name, n)
		p.Workers = 1
		p.Command = cmd
		p.Shell = shellSyntax(cmd) != "" // foreman's rule: a shell runs what needs one
		p.FieldSplit = true
		p.Env, p.EnvFrom = env.env, env.from
		before := len(l.errs)
		l.checkCommand(p, n, n)
		l.since(before, name)
		cfg.Processes = append(cfg.Processes, p)
	}
	l.checkTotal(cfg.Processes, func(p *Process) int { return p.Line })
	if err := l.loadError(cfg); err != nil {
		return nil, err
	}
	if len(cfg.Processes) == 0 {
		return nil, fmt.Errorf("%s: no processes (want \"name: command\" lines)", l.file)
	}
	return cfg, nil
}

func (l *loader) newConfig() *Config {
	format := FormatClusterfile
	if strings.HasPrefix(l.file, "Procfile") {
		format = FormatProcfile
	}
	return &Config{Path: l.path, Dir: l.dir, Format: format, Name: filepath.Base(l.dir), ShutdownTimeout: 30 * time.Second}
}

// defaults is a process with every default of SPEC.md.
func (l *loader) defaults(name string, line int) *Process {
	return &Process{
		Name: name, Line: line, Workers: min(l.numCPU, MaxWorkers), WorkersAuto: true, Dir: l.dir,
		Socket: SocketInherit, Restart: RestartAlways, MaxRestarts: 10, RestartWindow: 60 * time.Second,
		StopSignal: syscall.SIGTERM, StopTimeout: 10 * time.Second, KillMode: KillGroup,
		Ready: Ready{Kind: ReadyStarted, PortOrStarted: true, Timeout: 60 * time.Second},
	}
}

var topKeys = []string{"name", "env", "env_file", "shutdown_timeout", "process"}
var processKeys = []string{"command", "shell", "workers", "dir", "env", "env_file", "listen", "socket", "restart",
	"max_restarts", "restart_window", "stop_signal", "stop_timeout", "kill_mode", "ready", "watch", "watch_ignore",
	"watch_poll", "max_memory", "user", "tty", "depends_on"}
var readyKeys = []string{"notify", "log", "http", "tcp", "delay", "timeout"}

func (l *loader) clusterfile(src string) (*Config, error) {
	var raw map[string]any
	md, err := toml.Decode(src, &raw)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			line, col := pe.Position.Line, pe.Position.Col
			if at := pe.Position.Start; at >= 0 && at <= len(src) {
				// From the offset: the decoder's line is one too far when
				// it stopped on a line's end ("[process.web" with no "]").
				before := src[:at]
				nl := strings.LastIndexByte(before, '\n')
				line, col = strings.Count(before, "\n")+1, utf8.RuneCountInString(before[nl+1:])+1
			}
			return nil, fmt.Errorf("%s:%d:%d: %s%s", l.file, line, col, pe.Message, l.procfileHint(src))
		}
		return nil, fmt.Errorf("%s: %v", l.file, err)
	}
	l.lines = keyLines(src)
	cfg := l.newConfig()

	for k := range raw {
		if !contains(topKeys, k) {
			l.unknown(k, "", topKeys)
		}
	}
	if v, ok := raw["name"]; ok {
		if s, ok := v.(string); ok && s != "" {
			cfg.Name = s
		} else {
			l.errf(l.line("name"), "name: want a non-empty string")
		}
	}
	if v, ok := raw["shutdown_timeout"]; ok {
		cfg.ShutdownTimeout = l.duration("shutdown_timeout", v, "every stop would SIGKILL whatever is left at once and exit 1; to kill workers at once, set their stop_signal = \"KILL\"")
	}
	envErrs := len(l.errs)
	env := layered{env: l.osEnv}
	for _, f := range l.stringList("env_file", raw["env_file"]) {
		s, err := l.readEnvFile(f, env.env)
		if err != nil {
			l.errf(l.line("env_file"), "env_file: %v", err)
			continue
		}
		env = env.with(s, false)
	}
	env, err = l.readExtraEnv(env)
	if err != nil {
		return nil, err // -e names a file that cannot be read: the flag's mistake
	}
	env = env.with(l.envTable("env", raw["env"]), false)
	cfg.Env, cfg.EnvFrom = env.env, env.from
	l.envBroken = l.envBroken || len(l.errs) > envErrs

	procs, _ := raw["process"].(map[string]any)
	if _, ok := raw["process"]; ok && procs == nil {
		l.errf(l.line("process"), "process: want tables [process.NAME]")
	}
	for _, name := range processOrder(md, procs) {
		t, ok := procs[name].(map[string]any)
		key := "process." + name
		if !ok {
			l.errf(l.line(key), "%s: want a table [%s]", key, key)
			continue
		}
		if !ValidName(name) {
			l.errf(l.line(key), "%s: process name %q: use letters, digits, '_' and '-'", key, name)
			continue
		}
		cfg.Processes = append(cfg.Processes, l.process(name, t, env))
	}
	l.checkTotal(cfg.Processes, func(p *Process) int { return l.line("process." + p.Name + ".workers") })
	l.checkDepends(cfg.Processes)
	if err := l.loadError(cfg); err != nil {
		return nil, err
	}
	if len(cfg.Processes) == 0 {
		return nil, fmt.Errorf("%s: no [process.NAME] table", l.file)
	}
	return cfg, nil
}

// procfileHint is added to a TOML syntax error when the file looks like a
// Procfile (every line that is not blank or a comment is "name: command"):
// the file's name decides its grammar (Load).
func (l *loader) procfileHint(src string) string {
	lines := 0
	for _, line := range strings.Split(strings.TrimPrefix(src, "\ufeff"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		name, cmd, ok := strings.Cut(line, ":")
		if !ok || !ValidName(strings.TrimSpace(name)) || strings.TrimSpace(cmd) == "" {
			return ""
		}
		lines++
	}
	if lines == 0 {
		return ""
	}
	return fmt.Sprintf(" (%s looks like a Procfile, but only a file whose name starts with \"Procfile\" is read as one, any other as a Clusterfile in TOML: rename it %s)", l.file, procfileName(l.file))
}

// procfileName is the name to give a file in Procfile grammar: "procfile"
// in any case is Procfile, and the rest of the name, before or after it
// ("procfile.dev", "dev.procfile", "dev-Procfile"), its suffix: Procfile.dev.
func procfileName(base string) string {
	const word = "procfile"
	rest := base
	if lower := strings.ToLower(base); strings.HasPrefix(lower, word) {
		rest = base[len(word):]
	} else if strings.HasSuffix(lower, word) {
		rest = base[:len(base)-len(word)]
	}
	if rest = strings.Trim(rest, ".-_"); rest == "" {
		return "Procfile"
	}
	return "Procfile." + rest
}

// processOrder lists the process tables in file order.
func processOrder(md toml.MetaData, procs map[string]any) []string {
	var order []string
	seen := map[string]bool{}
	for _, k := range md.Keys() {
		if len(k) >= 2 && k[0] == "process" && !seen[k[1]] {
			if _, ok := procs[k[1]]; ok {
				seen[k[1]] = true
				order = append(order, k[1])
			}
		}
	}
	for name := range procs { // not reached in practice: Keys lists every table
		if !seen[name] {
			order = append(order, name)
		}
	}
	return order
}

func (l *loader) process(name string, t map[string]any, baseEnv layered) *Process {
	key := "process." + name
	p := l.defaults(name, l.line(key))
	p.keyLines = map[string]int{}
	for k := range t {
		if !contains(processKeys, k) {
			l.unknown(k, key, processKeys)
		}
		p.keyLines[k] = l.line(key + "." + k)
	}
	at := func(k string) (any, string, bool) {
		v, ok := t[k]
		return v, key + "." + k, ok
	}
	// From command to env: what the pre-flight reads (LoadError.Broken).
	// shell counts (it decides whether the command is split or given to
	// sh), tty and workers do not: a bad value there leaves the default
	// (no tty, the CPU count), with which the type is still checked.
	before, notRead := len(l.errs), 0
	if v, k, ok := at("command"); ok {
		if s, ok := v.(string); ok {
			p.Command = strings.TrimSpace(s)
		} else {
			l.errf(l.line(k), "%s: want a string", k)
		}
	}
	if p.Command == "" {
		if _, _, ok := at("command"); ok {
			l.errf(l.line(key+".command"), "%s.command: empty command", key)
		} else {
			l.errf(p.Line, "%s.command: missing (every process needs a command)", key)
		}
	}
	if v, k, ok := at("shell"); ok {
		p.Shell = l.boolean(k, v)
	}
	if v, k, ok := at("tty"); ok {
		n := len(l.errs)
		p.TTY = l.boolean(k, v)
		notRead += len(l.errs) - n
	}
	if op := shellSyntax(p.Command); op != "" && !p.Shell {
		l.errf(l.line(key+".command"), "%s.command: %s", key, shellSyntaxHint(op, p.Name))
	}
	if v, k, ok := at("workers"); ok {
		n := len(l.errs)
		switch x := v.(type) {
		case int64:
			switch {
			case x < 0:
				l.errf(l.line(k), "%s: %d: want 0 or more (0 disables the type), or \"auto\"", k, x)
			case x > MaxWorkers:
				l.errf(l.line(k), "%s: %d is over the limit of %d workers per type", k, x, MaxWorkers)
			default:
				p.Workers = int(x)
			}
			p.WorkersAuto = false
		case string:
			if x != "auto" {
				l.errf(l.line(k), "%s: %s: want an integer or \"auto\"", k, tomlValue(x))
			}
		default:
			l.errf(l.line(k), "%s: want an integer or \"auto\"", k)
		}
		notRead += len(l.errs) - n
	}
	if v, k, ok := at("dir"); ok {
		if s, ok := v.(string); ok && s != "" {
			if !filepath.IsAbs(s) {
				s = filepath.Join(l.dir, s)
			}
			p.Dir = filepath.Clean(s)
			if fi, err := os.Stat(p.Dir); err != nil || !fi.IsDir() {
				l.errf(l.line(k), "%s: %s is not a directory", k, p.Dir)
			}
		} else {
			l.errf(l.line(k), "%s: want a directory", k)
		}
	}
	env := baseEnv
	if v, k, ok := at("env_file"); ok {
		for _, f := range l.stringList(k, v) {
			s, err := l.readEnvFile(f, env.env)
			if err != nil {
				l.errf(l.line(k), "%s: %v", k, err)
				continue
			}
			env = env.with(s, true)
		}
	}
	if v, k, ok := at("env"); ok {
		env = env.with(l.envTable(k, v), true)
	}
	p.Env, p.EnvFrom = env.env, env.from
	l.since(before+notRead, name)
	if v, k, ok := at("listen"); ok {
		for _, s := range l.stringList(k, v) {
			a, err := parseAddress(s, l.dir)
			if err != nil {
				l.errf(l.line(k), "%s: %v", k, err)
				continue
			}
			p.Listen = append(p.Listen, a)
		}
	}
	if v, k, ok := at("socket"); ok {
		s, _ := v.(string)
		switch SocketMode(s) {
		case SocketInherit, SocketProxy:
			p.Socket = SocketMode(s)
		default:
			l.errf(l.line(k), "%s: %s: want \"inherit\" or \"proxy\"", k, tomlValue(v))
		}
		if len(p.Listen) == 0 {
			l.errf(l.line(k), "%s: set without listen (a socket mode needs a shared socket)", k)
		}
	}
	if v, k, ok := at("restart"); ok {
		s, _ := v.(string)
		switch RestartPolicy(s) {
		case RestartAlways, RestartOnFailure, RestartNever:
			p.Restart = RestartPolicy(s)
		default:
			l.errf(l.line(k), "%s: %s: want \"always\", \"on-failure\" or \"never\"", k, tomlValue(v))
		}
	}
	if v, k, ok := at("max_restarts"); ok {
		if n, ok := v.(int64); ok && n >= 0 {
			p.MaxRestarts = int(n)
		} else {
			l.errf(l.line(k), "%s: want an integer >= 0", k)
		}
	}
	if v, k, ok := at("restart_window"); ok {
		p.RestartWindow = l.duration(k, v, "a window of no time counts no crash, so max_restarts would never stop a crash loop")
	}
	if v, k, ok := at("stop_signal"); ok {
		sig, err := parseSignal(v)
		switch {
		case err != nil:
			l.errf(l.line(k), "%s: %v", k, err)
		case jobControl(sig):
			l.errf(l.line(k), "%s: %s is a job-control signal: it pauses or resumes a worker but never ends it, so workers could never stop gracefully; use \"TERM\" (the default), \"INT\", \"QUIT\" or another signal the app exits on", k, tomlValue(v))
		default:
			p.StopSignal = sig
		}
	}
	if v, k, ok := at("stop_timeout"); ok {
		p.StopTimeout = l.duration(k, v, "every stop would SIGKILL the worker at once and count as one that did not stop (exit 1); to kill it at once, set stop_signal = \"KILL\"")
	}
	if v, k, ok := at("kill_mode"); ok {
		s, _ := v.(string)
		switch KillMode(s) {
		case KillGroup, KillMixed:
			p.KillMode = KillMode(s)
		default:
			l.errf(l.line(k), "%s: %s: want \"group\" or \"mixed\"", k, tomlValue(v))
		}
	}
	if len(p.Listen) == 0 {
		before := len(l.errs)
		l.checkOwnPort(p, key)
		l.since(before, name)
	}
	if len(p.Listen) > 0 && p.Socket != SocketProxy && (p.Shell && shellExpandsPort(p.Command) || !p.Shell && expandsPort(p)) {
		l.errf(l.line(key+".command"), "%s.command: uses $PORT, but in inherit mode the shared socket is fd 3 (LISTEN_FDS) and PORT is not set; take fd 3, or set socket = \"proxy\" to get a $PORT", key)
	}
	p.Ready = l.ready(p, t)
	if v, k, ok := at("watch"); ok {
		p.Watch = l.globs(k, v, p.Dir)
		for i, g := range p.Watch {
			p.Watch[i] = dirGlob(g, p.Dir)
		}
	}
	if v, k, ok := at("watch_ignore"); ok {
		p.WatchIgnore = l.globs(k, v, p.Dir)
	}
	if v, k, ok := at("watch_poll"); ok {
		p.WatchPoll = l.duration(k, v, "polling needs an interval; leave watch_poll out to use inotify")
	}
	if v, k, ok := at("max_memory"); ok {
		n, err := parseSize(v)
		if err != nil {
			l.errf(l.line(k), "%s: %v", k, err)
		}
		p.MaxMemory = n
	}
	if v, k, ok := at("user"); ok {
		if s, ok := v.(string); ok && s != "" {
			p.User = s
		} else {
			l.errf(l.line(k), "%s: want a user name", k)
			l.since(len(l.errs)-1, name)
		}
	}
	if v, k, ok := at("depends_on"); ok {
		p.DependsOn = l.dependsOn(k, v)
	}
	if p.Command != "" {
		before := len(l.errs)
		l.checkCommand(p, l.line(key+".command"), l.line(key+".env"))
		l.since(before, name)
	}
	return p
}

// checkOwnPort checks a PORT that a type without listen sets in its own env
// or env_file: its workers get it (worker N: PORT + N − 1) instead of
// foreman's numbering, so it must be a port.
func (l *loader) checkOwnPort(p *Process, key string) {
	src, ok := p.EnvFrom["PORT"]
	if !ok || !src.Own {
		return
	}
	v, _ := lookupEnv(p.Env, "PORT")
	if strings.TrimSpace(v) == "" {
		return // as good as unset: foreman's numbering
	}
	if _, err := ParsePort(v); err != nil {
		if src.tomlKey != "" {
			l.errf(l.line(src.tomlKey), "%s: %v", src.tomlKey, err)
		} else {
			l.errf(l.line(key+".env_file"), "%s.env_file: %s: %v", key, src.Where, err)
		}
	}
}

// ParsePort reads a PORT value: a number from 1 to 65535.
func ParsePort(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%q is not a port (want 1-65535)", s)
	}
	return n, nil
}

// lookupEnv is the value of key in env ("KEY=value" pairs, the last wins).
func lookupEnv(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok {
			return v, true
		}
	}
	return "", false
}

// checkCommand splits p's command with its env, as Argv will at start, and
// checks that exec can take the result: no NUL byte, no argument over
// ArgStrMax, argv and env together within ArgMax (before the runner's own
// variables and $PORT, which ArgMax keeps room for). envLine is the line
// blamed when the environment is the bigger part.
func (l *loader) checkCommand(p *Process, line, envLine int) {
	key := "process." + p.Name
	if strings.IndexByte(p.Command, 0) >= 0 {
		l.errf(line, "%s.command: contains a NUL byte, which exec cannot pass", key)
		return
	}
	argv, err := p.Argv(p.Env)
	if err != nil {
		l.errf(line, "%s.command: %v", key, err)
		return
	}
	for _, a := range argv {
		if len(a)+1 > ArgStrMax {
			l.errf(line, "%s.command: an argument of %s is over the %s limit of one argument (ArgStrMax)", key, formatSize(int64(len(a)+1)), formatSize(ArgStrMax))
			return
		}
	}
	argSize, envSize := ArgSize(argv, nil), ArgSize(nil, p.Env)
	if argSize+envSize <= ArgMax {
		return
	}
	k := key + ".command"
	if envSize > argSize {
		k, line = key+".env", envLine
	}
	l.errf(line, "%s: the command (%s) and its environment (%s in %d variables) are over the %s that exec takes (ArgMax)",
		k, formatSize(int64(argSize)), formatSize(int64(envSize)), len(p.Env), formatSize(ArgMax))
}

// checkTotal rejects a config whose types have more than MaxTotalWorkers
// workers together, at the type that goes past the limit.
func (l *loader) checkTotal(procs []*Process, line func(*Process) int) {
	total, auto := 0, false
	for _, p := range procs {
		total += p.Workers
		auto = auto || p.WorkersAuto && p.Workers > 0
		if total > MaxTotalWorkers {
			note := ""
			if auto {
				note = fmt.Sprintf(" (\"auto\" counts %d, one per CPU)", min(l.numCPU, MaxWorkers))
			}
			l.errf(line(p), "process.%s.workers: %d brings the workers of all types to %d, over the limit of %d%s",
				p.Name, p.Workers, total, MaxTotalWorkers, note)
			return
		}
	}
}

// ready resolves `ready` and its defaults: proxy tcp, inherit delay 1s,
// no listen "started" once PORT accepts or after a grace; timeout 60s.
func (l *loader) ready(p *Process, t map[string]any) Ready {
	key := "process." + p.Name + ".ready"
	r := Ready{Kind: ReadyStarted, PortOrStarted: len(p.Listen) == 0, Timeout: 60 * time.Second}
	switch {
	case len(p.Listen) > 0 && p.Socket == SocketProxy:
		r.Kind = ReadyTCP
	case len(p.Listen) > 0:
		r.Kind, r.Delay = ReadyDelay, time.Second
	}
	v, ok := t["ready"]
	if !ok {
		return r
	}
	m, ok := v.(map[string]any)
	if !ok {
		l.errf(l.line(key), "%s: want a table such as { log = \"listening\" }, { notify = true }, { http = \"/healthz\" }, { tcp = true } or { delay = \"1s\" }", key)
		return r
	}
	var kinds []string
	for k := range m {
		if !contains(readyKeys, k) {
			l.unknown(k, key, readyKeys)
		} else if k != "timeout" {
			kinds = append(kinds, k)
		}
	}
	sort.Strings(kinds)
	if len(kinds) > 1 {
		l.errf(l.line(key), "%s: set one of notify, log, http, tcp or delay, not %s", key, strings.Join(kinds, " and "))
	}
	if to, ok := m["timeout"]; ok {
		r.Timeout = l.duration(key+".timeout", to, "no worker can be ready in no time")
	}
	if len(kinds) == 0 {
		l.checkDelay(key, r, false)
		return r
	}
	k := key + "." + kinds[0]
	r.PortOrStarted = false
	switch kinds[0] {
	case "notify":
		if l.boolean(k, m["notify"]) {
			r.Kind = ReadyNotify
		}
	case "tcp":
		if l.boolean(k, m["tcp"]) {
			r.Kind = ReadyTCP
		}
	case "log":
		s, ok := m["log"].(string)
		re, err := regexp.Compile(s)
		switch {
		case !ok:
			l.errf(l.line(k), "%s: %s: want a string", k, tomlValue(m["log"]))
		case s == "":
			l.errf(l.line(k), "%s: \"\": want a regular expression that is not empty", k)
		case err != nil:
			l.errf(l.line(k), "%s: want a regular expression: %v", k, err)
		}
		r.Kind, r.Log = ReadyLog, re
	case "http":
		s, _ := m["http"].(string)
		if !strings.HasPrefix(s, "/") {
			l.errf(l.line(k), "%s: %s: want a path such as \"/healthz\"", k, tomlValue(m["http"]))
		}
		r.Kind, r.HTTP = ReadyHTTP, s
	case "delay":
		r.Kind, r.Delay = ReadyDelay, l.duration(k, m["delay"], "") // 0: ready once spawned
	}
	if (r.Kind == ReadyHTTP || r.Kind == ReadyTCP) && len(p.Listen) > 0 && p.Socket != SocketProxy {
		l.errf(l.line(k), "%s: in inherit mode every worker shares one port, so a probe cannot tell them apart; use ready.notify, ready.log, or socket = \"proxy\"", k)
	}
	l.checkDelay(key, r, kinds[0] == "delay")
	return r
}

// checkDelay rejects a ready delay that is not shorter than ready.timeout: a
// worker not ready within the timeout has failed to start, so none could be.
func (l *loader) checkDelay(key string, r Ready, delaySet bool) {
	if r.Kind != ReadyDelay || r.Timeout <= 0 || r.Delay < r.Timeout {
		return
	}
	k, what := key+".delay", "shorten the delay or lengthen ready.timeout"
	if !delaySet {
		k, what = key+".timeout", "the delay is 1s by default in inherit mode"
	}
	l.errf(l.line(k), "%s: ready.delay %s is not shorter than ready.timeout %s, so no worker could ever be ready (%s)", k, r.Delay, r.Timeout, what)
}

// unknown reports an unknown key with a did-you-mean.
func (l *loader) unknown(k, table string, known []string) {
	full := k
	where := "at the top level"
	if table != "" {
		full = table + "." + k
		where = "in [" + table + "]"
	}
	msg := fmt.Sprintf("unknown key %q %s", k, where)
	if s := closest(k, known); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	l.errs = append(l.errs, lineErr{line: l.line(full), msg: msg})
}

// duration reads a Go duration. Negative ones are errors; so is 0 when
// whyNotZero says why it has no meaning for k ("" when 0 is meaningful).
func (l *loader) duration(k string, v any, whyNotZero string) time.Duration {
	s, ok := v.(string)
	d, err := time.ParseDuration(s)
	switch {
	case !ok || err != nil:
		l.errf(l.line(k), "%s: %s: want a duration such as \"500ms\", \"10s\" or \"1m30s\"", k, tomlValue(v))
		return 0
	case d < 0 && whyNotZero != "":
		l.errf(l.line(k), "%s: %s: want a duration above 0, not a negative one", k, tomlValue(v))
		return 0
	case d < 0:
		l.errf(l.line(k), "%s: %s: want a duration of 0 or more, not a negative one", k, tomlValue(v))
		return 0
	case d == 0 && whyNotZero != "":
		l.errf(l.line(k), "%s: %s: want a duration above 0: %s", k, tomlValue(v), whyNotZero)
		return 0
	}
	return d
}

func (l *loader) boolean(k string, v any) bool {
	b, ok := v.(bool)
	if !ok {
		l.errf(l.line(k), "%s: %s: want true or false", k, tomlValue(v))
	}
	return b
}

// globs reads watch or watch_ignore and checks each glob (see checkGlob).
// The watcher matches paths relative to dir, so an absolute glob under dir
// is made relative to it, and one elsewhere, which could never match, is an
// error.
func (l *loader) globs(k string, v any, dir string) []string {
	list := l.stringList(k, v)
	for i, g := range list {
		if !strings.HasPrefix(g, "/") {
			if err := checkGlob(g); err != nil {
				l.errf(l.line(k), "%s: %v", k, err)
			}
			continue
		}
		rel, ok := relGlob(g, dir)
		if !ok {
			l.errf(l.line(k), "%s: %s: globs are relative to dir (%s), and this one is outside it", k, tomlValue(g), dir)
			continue
		}
		if err := checkGlob(rel); err != nil {
			l.errf(l.line(k), "%s: %s: %v", k, tomlValue(g), err)
		}
		list[i] = rel
	}
	return list
}

// dirGlob: a watch entry that names a directory means everything below it,
// as nodemon, air and watchexec take it, since only files change: one that
// ends in "/" ("./lib/") becomes "lib/**". One with no wildcard ("src") is
// left as written: the watcher matches it and what is below it (see
// watch.MatchWatch), whether or not it is a directory, or exists, at any
// time; deciding here, by what is on disk at load, made a later re-read
// flip it. Anything else is left as written.
func dirGlob(g, dir string) string {
	c := g
	for strings.HasPrefix(c, "./") {
		c = c[2:]
	}
	c = strings.TrimLeft(c, "/")
	trailing := strings.HasSuffix(c, "/")
	c = strings.TrimRight(c, "/")
	switch {
	case c == "" || c == ".":
		return g
	case trailing:
		return c + "/**"
	}
	return g
}

// relGlob is the absolute glob g relative to dir, if it starts with dir (as
// written, or with dir's symlinks resolved).
func relGlob(g, dir string) (string, bool) {
	dirs := []string{dir}
	if real, err := filepath.EvalSymlinks(dir); err == nil && real != dir {
		dirs = append(dirs, real)
	}
	for _, d := range dirs {
		if g == d {
			return "", true
		}
		if rel, ok := strings.CutPrefix(g, strings.TrimSuffix(d, "/")+"/"); ok {
			return rel, true
		}
	}
	return "", false
}

func (l *loader) stringList(k string, v any) []string {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				l.errf(l.line(k), "%s: want strings, got %s", k, tomlValue(e))
				continue
			}
			out = append(out, s)
		}
		return out
	}
	l.errf(l.line(k), "%s: want a string or a list of strings", k)
	return nil
}

func (l *loader) envTable(k string, v any) []setting {
	if v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		l.errf(l.line(k), "%s: want a table of NAME = value", k)
		return nil
	}
	var out []setting
	for name, val := range m {
		line, full := l.line(k+"."+name), k+"."+tomlKey(name)
		var s string
		switch x := val.(type) {
		case string:
			s = x
		case int64, float64, bool:
			s = fmt.Sprint(x)
		default:
			l.errf(line, "%s: want a string, number or boolean", full)
			continue
		}
		switch {
		case name == "":
			l.errf(line, "%s: an environment variable needs a name", full)
		case strings.ContainsAny(name, "=\x00"):
			l.errf(line, "%s: a variable name cannot contain \"=\" or a NUL byte", full)
		default:
			if err := checkEnvValue(name, s); err != nil {
				l.errf(line, "%s: %v", full, err)
			} else {
				out = append(out, setting{name, s, fmt.Sprintf("%s:%d: %s", l.file, line, full), k + "." + name})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// readEnvFile reads a dotenv file relative to the config's directory. Its
// ${VAR} expansions see the lines above and then env, the environment
// merged so far (the OS env and the files read before it), as a chain of
// dotenv files expands in the dotenv tools.
func (l *loader) readEnvFile(name string, env []string) ([]setting, error) {
	path := name
	if !filepath.IsAbs(path) {
		path = filepath.Join(l.dir, name)
	}
	src, err := readFile(path, name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, unreadable{fmt.Errorf("env file %s does not exist", name)}
		}
		return nil, unreadable{err}
	}
	if !slices.Contains(l.envFiles, name) {
		l.envFiles = append(l.envFiles, name)
	}
	lines, err := parseDotenv(string(src), name, func(k string) (string, bool) { return lookupEnv(env, k) })
	if err != nil {
		return nil, err
	}
	out := make([]setting, len(lines))
	for i, d := range lines {
		out[i] = setting{d.key, d.value, fmt.Sprintf("%s:%d: %s", name, d.line, d.key), ""}
	}
	return out, nil
}

// setting is one variable the configuration sets, and where (EnvSource.Where;
// tomlKey: its dotted key when a Clusterfile table sets it).
type setting struct{ key, value, where, tomlKey string }

// layered is an environment as it is built up, layer on layer, with where
// the configuration set each variable (one not in from came from the OS env).
// Both are shared between processes: with returns new ones.
type layered struct {
	env  []string
	from map[string]EnvSource
}

// with overlays s on e; own: the settings are a type's own env or env_file.
func (e layered) with(s []setting, own bool) layered {
	if len(s) == 0 {
		return e
	}
	from := make(map[string]EnvSource, len(e.from)+len(s))
	for k, v := range e.from {
		from[k] = v
	}
	for _, x := range s {
		from[x.key] = EnvSource{Where: x.where, Own: own, tomlKey: x.tomlKey}
	}
	return layered{mergeEnv(e.env, s), from}
}

// mergeEnv overlays s on env and returns sorted KEY=value pairs, one per key.
func mergeEnv(env []string, s []setting) []string {
	m := make(map[string]string, len(env)+len(s))
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			m[k] = v
		}
	}
	for _, x := range s {
		m[x.key] = x.value
	}
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func parseAddress(s, dir string) (Address, error) {
	if p, ok := strings.CutPrefix(s, "unix:"); ok {
		if p == "" {
			return Address{}, fmt.Errorf("%q: want unix:/path/to.sock", s)
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if err := checkUnixPath(p); err != nil {
			return Address{}, fmt.Errorf("%q: %w", s, err)
		}
		return Address{Network: "unix", Addr: p, Raw: s}, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return Address{}, fmt.Errorf("%q: want \":8080\", \"127.0.0.1:8080\", \"[::1]:8080\" or \"unix:/path\"", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return Address{}, fmt.Errorf("%q: port %q is not 0-65535", s, port)
	}
	if host != "" && host != "localhost" && net.ParseIP(host) == nil && strings.ContainsAny(host, " /") {
		return Address{}, fmt.Errorf("%q: bad host %q", s, host)
	}
	return Address{Network: "tcp", Addr: s, Raw: s}, nil
}

var signalsByName = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "KILL": syscall.SIGKILL,
	"USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "TERM": syscall.SIGTERM, "WINCH": syscall.SIGWINCH,
	"ABRT": syscall.SIGABRT, "ALRM": syscall.SIGALRM, "CONT": syscall.SIGCONT, "STOP": syscall.SIGSTOP,
	"TSTP": syscall.SIGTSTP, "TTIN": syscall.SIGTTIN, "TTOU": syscall.SIGTTOU,
}

// jobControl reports whether sig only pauses or resumes a process: it can
// be sent (cluster signal), but not used to stop one.
func jobControl(sig syscall.Signal) bool {
	switch sig {
	case syscall.SIGSTOP, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGCONT:
		return true
	}
	return false
}

// ParseSignal reads a signal as the Clusterfile writes it: "TERM",
// "SIGUSR2", "usr2", or a number (a TOML integer or a string).
func ParseSignal(v any) (syscall.Signal, error) { return parseSignal(v) }

func parseSignal(v any) (syscall.Signal, error) {
	switch x := v.(type) {
	case int64:
		if x > 0 && x < 65 {
			return syscall.Signal(x), nil
		}
	case string:
		name := strings.TrimPrefix(strings.ToUpper(x), "SIG")
		if s, ok := signalsByName[name]; ok {
			return s, nil
		}
		if s, ok := platformSignals[name]; ok {
			return s, nil
		}
		if n, err := strconv.Atoi(x); err == nil && n > 0 && n < 65 {
			return syscall.Signal(n), nil
		}
	}
	return 0, fmt.Errorf("unknown signal %s", tomlValue(v))
}

// parseSize reads bytes: an integer, or "512MiB" (KiB MiB GiB TiB = 1024^n,
// KB MB GB TB = 1000^n, K M G = 1024^n, B). A size must fit in an int64 and
// not be negative.
func parseSize(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		if x < 0 {
			return 0, fmt.Errorf("%d: a size cannot be negative", x)
		}
		return x, nil
	case string:
		s := strings.TrimSpace(x)
		if strings.HasPrefix(s, "-") {
			return 0, fmt.Errorf("%s: a size cannot be negative", tomlValue(v))
		}
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		unit, ok := sizeUnits[strings.ToUpper(strings.TrimSpace(s[i:]))]
		if !ok || i == 0 {
			break
		}
		num := s[:i]
		if n, err := strconv.ParseUint(num, 10, 64); err == nil {
			hi, lo := bits.Mul64(n, unit)
			if hi != 0 || lo > math.MaxInt64 {
				return 0, fmt.Errorf("%s: too large (the most is %d bytes, 8 EiB)", tomlValue(v), int64(math.MaxInt64))
			}
			return int64(lo), nil
		} else if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("%s: too large (the most is %d bytes, 8 EiB)", tomlValue(v), int64(math.MaxInt64))
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil {
			break
		}
		b := f * float64(unit)
		if b >= math.MaxInt64 { // float64(MaxInt64) is 2^63, just past the range
			return 0, fmt.Errorf("%s: too large (the most is %d bytes, 8 EiB)", tomlValue(v), int64(math.MaxInt64))
		}
		if f > 0 && b < 1 {
			return 0, fmt.Errorf("%s: less than one byte", tomlValue(v))
		}
		return int64(b), nil
	}
	return 0, fmt.Errorf("%s: want a size such as \"512MiB\", \"1GB\" or a number of bytes", tomlValue(v))
}

var sizeUnits = map[string]uint64{"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
	"KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}

// tomlKey writes a key as TOML would: bare when it can be, else quoted.
func tomlKey(k string) string {
	if ValidName(k) {
		return k
	}
	return strconv.Quote(k)
}

func tomlValue(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	if v == nil {
		return "nothing"
	}
	return fmt.Sprint(v)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// closest returns the known key nearest to k by edit distance, if near.
func closest(k string, known []string) string {
	best, bestD := "", 3
	for _, c := range known {
		if d := editDistance(k, c); d < bestD || d == bestD && best == "" && d <= len(k)/2 {
			best, bestD = c, d
		}
	}
	if bestD > 2 || bestD > len(k)/2+1 {
		return ""
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// line returns the line of a dotted key, else of its nearest parent, else 1.
func (l *loader) line(key string) int {
	for k := key; k != ""; {
		if n, ok := l.lines[k]; ok {
			return n
		}
		i := strings.LastIndexByte(k, '.')
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return 1
}
