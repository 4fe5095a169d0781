package runner

import (
	"errors"
	"fmt"
	"github.com/cluster-run/cluster/procfile"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// scrubbed reports whether an inherited variable belongs to the runner's own
// supervisor (socket activation, sd_notify, watchdog) and must not reach workers.
func scrubbed(kv string) bool {
	k, _, _ := strings.Cut(kv, "=")
	return strings.HasPrefix(k, "LISTEN_") || k == "NOTIFY_SOCKET" || strings.HasPrefix(k, "WATCHDOG_")
}

// workerEnv is the environment of worker index of t: the merged env of the
// process (scrubbed), then HOME, USER and LOGNAME of its user, the
// CLUSTER_* contract, PORT and color variables.
func (r *Runner) workerEnv(t *ptype, index int) []string {
	p := t.p
	env := make([]string, 0, len(p.Env)+8)
	has := map[string]bool{}
	for _, kv := range p.Env {
		if scrubbed(kv) {
			continue
		}
		k, _, _ := strings.Cut(kv, "=")
		if k == "PORT" && len(p.Listen) > 0 {
			continue // inherit mode: not set; proxy mode: the runner's private port
		}
		has[k] = true
		env = append(env, kv)
	}
	set := func(k, v string) {
		env = slices.DeleteFunc(env, func(kv string) bool { return strings.HasPrefix(kv, k+"=") })
		env = append(env, k+"="+v)
	}
	if !has["PYTHONUNBUFFERED"] {
		// Python block-buffers stdout on a pipe: lines would show late and
		// be lost at a kill. Every other common runtime flushes per line or
		// per write on pipes (Ruby needs $stdout.sync = true: see README).
		set("PYTHONUNBUFFERED", "1")
	}
	for _, kv := range userVars(p.User) {
		// The user's, as login, su -, systemd's User= and docker's USER
		// give them, unless the configuration sets them: the runner's own
		// (HOME=/root) would send the app's caches where it may not write.
		k, v, _ := strings.Cut(kv, "=")
		if _, configured := p.EnvFrom[k]; !configured {
			set(k, v)
		}
	}
	set("CLUSTER_PROCESS", p.Name)
	set("CLUSTER_WORKER", strconv.Itoa(index))
	set("CLUSTER_WORKERS", strconv.Itoa(t.count))
	if port := r.foremanPort(t, index); port != 0 {
		set("PORT", strconv.Itoa(port))
	}
	if r.opts.Color {
		if !has["FORCE_COLOR"] {
			set("FORCE_COLOR", "1")
		}
		if !has["CLICOLOR_FORCE"] {
			set("CLICOLOR_FORCE", "1")
		}
	}
	return env
}

// foremanPort is the PORT worker index of t gets when t has no listen,
// else 0: its own PORT + index − 1 when its own env or env_file sets one
// (Process.OwnPort), else foreman's base + 100 × the type's place + index − 1.
func (r *Runner) foremanPort(t *ptype, index int) int {
	if len(t.p.Listen) > 0 {
		return 0
	}
	if own, ok := t.p.OwnPort(); ok {
		return own + index - 1
	}
	return r.opts.PortBase + 100*t.portPlace + index - 1
}

// portOverflow says why n workers of t cannot all get a PORT: the last
// one's would be above 65535 (a --port or PORT base near the top, many types
// or workers). nil when they can, or t has listen.
func (r *Runner) portOverflow(t *ptype, n int) error {
	port := r.foremanPort(t, n)
	if port <= 65535 {
		return nil
	}
	if own, ok := t.p.OwnPort(); ok {
		return fmt.Errorf("%s.%d would get PORT %d, above 65535 (its own PORT %d + %d, from %s)", t.p.Name, n, port, own, n-1, t.p.EnvFrom["PORT"].Where)
	}
	return fmt.Errorf("%s.%d would get PORT %d, above 65535 (foreman's: base %d + 100 × %d + %d): give a lower --port or PORT", t.p.Name, n, port, r.opts.PortBase, t.portPlace, n-1)
}

// portPlace is the place in foreman's PORT scheme of cfg.Processes[i]: its
// position in the file, a Procfile's release type left out. release runs
// alone before the others start, so web after it gets the base port, as
// on Heroku, where the platform routes to PORT.
func portPlace(cfg *procfile.Config, i int) int {
	if cfg.Format != procfile.FormatProcfile {
		return i
	}
	n := i
	for _, p := range cfg.Processes[:i] {
		if p.Name == "release" {
			n--
		}
	}
	return n
}

// resolveArgv splits the command with the worker's env and finds its program.
func (r *Runner) resolveArgv(t *ptype, env []string) (string, []string, error) {
	argv, err := t.p.Argv(env)
	if err != nil {
		return "", nil, fmt.Errorf("%s: command: %w", t.p.Name, err)
	}
	if len(argv) == 0 {
		return "", nil, fmt.Errorf("%s: empty command", t.p.Name)
	}
	if n := procfile.ArgSize(argv, env); n > procfile.ArgMax {
		return "", nil, fmt.Errorf("%s: command and environment take %d bytes, over the %d exec accepts (argument list too long)", t.p.Name, n, procfile.ArgMax)
	}
	for _, a := range argv {
		if len(a)+1 > procfile.ArgStrMax {
			return "", nil, fmt.Errorf("%s: a command argument of %d bytes is over the %d exec accepts for one string", t.p.Name, len(a), procfile.ArgStrMax-1)
		}
	}
	path, err := lookPath(argv[0], t.p.Dir, envValue(env, "PATH"))
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", t.p.Name, err)
	}
	return path, argv, nil
}

// resolve checks before anything starts that worker index of t can be
// started: the command splits and its program exists.
func (r *Runner) resolve(t *ptype, index int) (string, error) {
	path, _, err := r.resolveArgv(t, r.workerEnv(t, index))
	return path, err
}

func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if val, ok := strings.CutPrefix(kv, key+"="); ok {
			v = val
		}
	}
	return v
}

// lookPath finds prog like execvp would, with the worker's PATH and
// directory, and says what it searched when it fails.
func lookPath(prog, dir, pathEnv string) (string, error) {
	if strings.Contains(prog, "/") {
		path := prog
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		if err := executable(path); err != nil {
			return "", fmt.Errorf("program %q: %w", prog, err)
		}
		if err := interpreterError(path, dir); err != nil {
			return "", fmt.Errorf("program %q: %w", prog, err)
		}
		return path, nil
	}
	for _, d := range filepath.SplitList(pathEnv) {
		if d == "" {
			d = "."
		}
		if !filepath.IsAbs(d) {
			d = filepath.Join(dir, d)
		}
		path := filepath.Join(d, prog)
		if executable(path) == nil {
			// execvp stops at the first one too, whether it runs or not.
			if err := interpreterError(path, dir); err != nil {
				return "", fmt.Errorf("program %q (%s): %w", prog, path, err)
			}
			return path, nil
		}
	}
	return "", fmt.Errorf("program %q not found in PATH (%s)", prog, pathEnv)
}

func executable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("no such file %s", path)
		}
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("%s is a directory", path)
	}
	if fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not executable", path)
	}
	return nil
}

// userVars are HOME, USER and LOGNAME of the user a worker runs as when
// `user` switches to it (the runner is root), from its passwd entry; nil
// when the worker runs as the runner's user.
func userVars(name string) []string {
	if name == "" || os.Getuid() != 0 {
		return nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil // credential reports it
	}
	return []string{"HOME=" + u.HomeDir, "USER=" + u.Username, "LOGNAME=" + u.Username}
}

// Credential is what `user = NAME` makes a worker run as (see credential),
// for `cluster exec`.
func Credential(name string) (*syscall.Credential, error) { return credential(name) }

// SwitchUser makes this process cred's user, groups first, as a worker's
// fork does: `cluster exec` then execs the command as that user.
func SwitchUser(cred *syscall.Credential) error {
	groups := make([]int, len(cred.Groups))
	for i, g := range cred.Groups {
		groups[i] = int(g)
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setgid(int(cred.Gid)); err != nil {
		return fmt.Errorf("setgid %d: %w", cred.Gid, err)
	}
	if err := syscall.Setuid(int(cred.Uid)); err != nil {
		return fmt.Errorf("setuid %d: %w", cred.Uid, err)
	}
	return nil
}

// credential resolves `user` when the runner is root. Not root, the workers
// run as the runner's user; asking for another one is an error.
func credential(name string) (*syscall.Credential, error) {
	if name == "" {
		return nil, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		var unknown user.UnknownUserError
		if errors.As(err, &unknown) {
			return nil, fmt.Errorf("%q: no such user", name)
		}
		return nil, fmt.Errorf("%q: %w", name, err)
	}
	if os.Getuid() != 0 {
		if u.Uid == strconv.Itoa(os.Getuid()) {
			return nil, nil
		}
		return nil, fmt.Errorf("%q: switching user needs the runner to start as root", name)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if gids, err := u.GroupIds(); err == nil {
		for _, g := range gids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				cred.Groups = append(cred.Groups, uint32(n))
			}
		}
	}
	return cred, nil
}

const pollInterval = 20 * time.Millisecond

// pollPause is the interval of the few loops that must poll the kernel
// (is a process group empty yet?): there is no event for it.
func pollPause() { time.Sleep(pollInterval) }

const (
	sigTERM = syscall.SIGTERM
	sigKILL = syscall.SIGKILL
	sigCONT = syscall.SIGCONT
)

// signalTree signals an orphan and, when it leads a process group, the group.
func signalTree(pid int, sig syscall.Signal) {
	syscall.Kill(pid, sig)
	if pg, err := syscall.Getpgid(pid); err == nil && pg == pid {
		syscall.Kill(-pid, sig)
	}
}

// SignalName names a signal as "SIGTERM" (the platform's own names, from
// x/sys/unix), or "signal 34" for one without a name.
func SignalName(s syscall.Signal) string {
	if n := unix.SignalName(s); n != "" {
		return n
	}
	return "signal " + strconv.Itoa(int(s))
}

// ExecEnv is the environment `cluster exec` gives a command: with a process
// type, the env its worker 1 would get (CLUSTER_*, foreman's PORT); without
// one, the cluster's env. Neither has the runner's own LISTEN_*,
// NOTIFY_SOCKET or WATCHDOG_*: no socket or notify socket exists for it.
func ExecEnv(opts Options, process string) ([]string, error) {
	cfg := opts.Config
	if process == "" {
		return slices.DeleteFunc(slices.Clone(cfg.Env), scrubbed), nil
	}
	if opts.PortBase == 0 {
		opts.PortBase = 5000
	}
	for i, p := range cfg.Processes {
		if p.Name == process {
			t := &ptype{p: p, portPlace: portPlace(cfg, i), count: p.Workers}
			if n, ok := WorkerCount(opts.Workers, p.Name); ok {
				t.count = n
			}
			r := &Runner{opts: opts}
			return r.workerEnv(t, 1), nil
		}
	}
	return nil, fmt.Errorf("unknown process type %q (have %s)", process, processNames(cfg))
}

// LookPath finds prog as a worker's exec would: with the PATH of env,
// relative entries and paths taken from dir.
func LookPath(prog, dir string, env []string) (string, error) {
	return lookPath(prog, dir, envValue(env, "PATH"))
}
