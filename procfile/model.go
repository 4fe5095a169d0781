package procfile

import (
	"fmt"
	"path/filepath"
	"regexp"
	"syscall"
	"time"
)

// Limits on worker counts. Each worker costs the runner a few file
// descriptors (its output pipes, the sockets it inherits or the proxy's
// connections to it) and goroutines. Go raises the soft RLIMIT_NOFILE to the
// hard limit at start (524288 under systemd, about a million in most
// containers); 4096 workers at a few fds each stay well under it, with a
// reserve for listeners, watches and control connections. Load rejects a
// count above these, "auto" counting as one worker per CPU, capped at
// MaxWorkers.
const (
	MaxWorkers      = 1024 // workers of one process type
	MaxTotalWorkers = 4096 // workers of all the types of one Config together
)

// Config is one validated Clusterfile or Procfile. Every default of SPEC.md is
// already applied: callers never see a zero value that means "unset".
type Config struct {
	Path            string        // absolute path of the file that was loaded
	Dir             string        // absolute directory of that file
	Format          Format        // Clusterfile or Procfile
	Name            string        // `name`, default: the directory's base name
	ShutdownTimeout time.Duration // default 30s; > 0
	Processes       []*Process    // in file order

	// Env is the cluster's merged environment without any process's own:
	// OS env < top-level env_file(s) < [env], as sorted "KEY=value" pairs.
	// `cluster run -- COMMAND` runs COMMAND with it.
	Env []string
	// EnvFrom says where the configuration set each variable of Env; one
	// that is not in it came from the OS environment.
	EnvFrom map[string]EnvSource

	// EnvFiles are the dotenv files that were read, as written (relative to
	// Dir unless absolute): the top-level env_file, then each process's, in
	// file order; a Procfile's .env when present. Export names them instead
	// of writing their values.
	EnvFiles []string
}

// Format says which grammar a Config came from.
type Format string

const (
	FormatClusterfile Format = "clusterfile"
	FormatProcfile    Format = "procfile"
)

// Process is one [process.NAME] table (or one Procfile line), fully resolved.
type Process struct {
	Name     string
	Line     int            // line of its table header / Procfile line, for messages
	keyLines map[string]int // line of each key of its table (Clusterfile)
	Command  string         // as written
	Shell    bool           // run as /bin/sh -c Command
	// FieldSplit: an unquoted $VAR splits at blanks, as sh does (Procfile lines).
	FieldSplit bool

	Workers     int  // resolved: "auto" (the default in a Clusterfile) = runtime.NumCPU() up to MaxWorkers; Procfile: 1; 0 disables
	WorkersAuto bool // Workers came from "auto"

	Dir string // absolute; default: the file's directory

	// Env is the merged environment, OS env < env_files < [env] < [process.X.env],
	// as sorted "KEY=value" pairs with one entry per key. LISTEN_*, NOTIFY_SOCKET
	// and WATCHDOG_* from the OS env are NOT removed here (the runner scrubs them).
	Env []string
	// EnvFrom says where the configuration set each variable of Env; one
	// that is not in it came from the OS environment.
	EnvFrom map[string]EnvSource

	Listen []Address  // empty: no shared socket
	Socket SocketMode // default inherit

	Restart       RestartPolicy // default always
	MaxRestarts   int           // default 10
	RestartWindow time.Duration // default 60s; > 0
	StopSignal    syscall.Signal
	StopTimeout   time.Duration // default 10s; > 0 (stop_signal "KILL" kills at once)
	KillMode      KillMode      // default group

	Ready Ready

	Watch       []string      // globs relative to Dir
	WatchIgnore []string      // added to the built-in ignores
	WatchPoll   time.Duration // 0: use inotify (watch_poll, when set, is > 0)

	MaxMemory int64  // bytes, >= 0; 0: no limit
	User      string // "": do not change user

	// TTY: the worker's stdin, stdout and stderr are its pseudo-terminal
	// (cluster attach connects to it), not /dev/null and pipes.
	TTY bool

	// DependsOn: the types that must reach a condition before this one
	// starts (`depends_on`), in the order written (a table's by name).
	// Every name is another type of the file, there is no cycle, and
	// ConditionCompleted is never on a type with restart = "always".
	DependsOn []Dependency
}

// EnvSource is where the configuration set one variable of an environment.
type EnvSource struct {
	// Where names it for messages: a dotenv file's line (".env:3: PORT")
	// or a Clusterfile's key ("Clusterfile:9: process.web.env.PORT").
	Where string
	// Own: the type's own env or env_file set it (not [env], a top-level
	// env_file, a Procfile's .env or -e).
	Own bool

	tomlKey string // the dotted key of a Clusterfile table entry, for errors
}

// OwnPort is the PORT a type without listen sets in its own env or env_file
// (Clusterfile): its workers get it, worker N PORT + N − 1, instead of
// foreman's numbering. ok is false when it sets none, or an empty one (or
// no valid one; Load reports that).
func (p *Process) OwnPort() (port int, ok bool) {
	if src, set := p.EnvFrom["PORT"]; !set || !src.Own || len(p.Listen) > 0 {
		return 0, false
	}
	v, _ := lookupEnv(p.Env, "PORT")
	n, err := ParsePort(v)
	return n, err == nil
}

// Dependency is one `depends_on` entry.
type Dependency struct {
	Name      string
	Condition Condition
}

// Condition is what a dependency must reach before its dependent starts.
type Condition string

const (
	ConditionStarted   Condition = "started"   // its workers were spawned
	ConditionReady     Condition = "ready"     // every worker is ready (the default)
	ConditionCompleted Condition = "completed" // every worker exited 0 and is not restarted
)

// StartOrder lists the processes so that each comes after everything it
// depends on; among those free to go, file order. The runner starts types
// in this order and stops them in the reverse one.
func (c *Config) StartOrder() []*Process {
	placed := map[string]bool{}
	known := map[string]bool{}
	for _, p := range c.Processes {
		known[p.Name] = true
	}
	var order []*Process
	for len(order) < len(c.Processes) {
		progress := false
		for _, p := range c.Processes {
			if placed[p.Name] {
				continue
			}
			free := true
			for _, d := range p.DependsOn {
				if known[d.Name] && !placed[d.Name] && d.Name != p.Name {
					free = false
					break
				}
			}
			if free {
				placed[p.Name] = true
				order = append(order, p)
				progress = true
				break // back to the start: file order among the free ones
			}
		}
		if !progress { // a cycle (Load rejects it): the rest in file order
			for _, p := range c.Processes {
				if !placed[p.Name] {
					placed[p.Name] = true
					order = append(order, p)
				}
			}
		}
	}
	return order
}

// Argv splits the command for one worker with that worker's environment
// (env is "KEY=value" pairs; later entries win). $VAR and ${VAR} are expanded
// from env; backticks are never executed. With Shell it returns
// ["/bin/sh", "-c", Command] and leaves expansion to the shell.
// Implemented in command.go.
// func (p *Process) Argv(env []string) ([]string, error)

// Address is one `listen` entry.
type Address struct {
	Network string // "tcp" or "unix"
	Addr    string // "host:port" (host may be empty or [v6]) or the unix path (absolute)
	Raw     string // as written
}

func (a Address) String() string { return a.Raw }

type SocketMode string

const (
	SocketInherit SocketMode = "inherit"
	SocketProxy   SocketMode = "proxy"
)

type RestartPolicy string

const (
	RestartAlways    RestartPolicy = "always"
	RestartOnFailure RestartPolicy = "on-failure"
	RestartNever     RestartPolicy = "never"
)

type KillMode string

const (
	KillGroup KillMode = "group"
	KillMixed KillMode = "mixed"
)

type ReadyKind string

const (
	ReadyStarted ReadyKind = "started" // types without listen: ready once spawned
	ReadyNotify  ReadyKind = "notify"
	ReadyLog     ReadyKind = "log"
	ReadyHTTP    ReadyKind = "http"
	ReadyTCP     ReadyKind = "tcp"
	ReadyDelay   ReadyKind = "delay"
)

// Ready is the resolved readiness check. Defaults: proxy mode tcp; inherit
// mode delay 1s; no listen: started, with PortOrStarted. Timeout default 60s.
type Ready struct {
	Kind ReadyKind
	// PortOrStarted is the default of a type without listen (Kind is
	// ReadyStarted): ready once its foreman PORT accepts a TCP connect, or
	// once it has kept running for a short grace (a worker that never
	// listens, such as a queue consumer, is ready then).
	PortOrStarted bool
	Log           *regexp.Regexp // ReadyLog
	HTTP          string         // ReadyHTTP: the path, e.g. "/healthz"
	Delay         time.Duration  // ReadyDelay; >= 0 (0: ready once spawned) and < Timeout
	Timeout       time.Duration  // > 0
}

// Where names one key of p for a message, as load's errors do:
// "Clusterfile:7: process.web.listen" (a Procfile: "Procfile:3: web").
func (c *Config) Where(p *Process, key string) string {
	file := filepath.Base(c.Path)
	if c.Format == FormatProcfile {
		return fmt.Sprintf("%s:%d: %s", file, p.Line, p.Name)
	}
	line, ok := p.keyLines[key]
	if !ok {
		line = p.Line
	}
	return fmt.Sprintf("%s:%d: process.%s.%s", file, line, p.Name, key)
}
