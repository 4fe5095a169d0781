package main

import (
	"context"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cluster-run/cluster/logmux"
	"github.com/cluster-run/cluster/procfile"
	"github.com/cluster-run/cluster/runner"
	"github.com/cluster-run/cluster/watch"
)

// watchWanted: types that declare watch are watched by default in
// development; in CI ($CI set) and as a container's PID 1 only with --watch.
func watchWanted(cfg *procfile.Config, only []string, f runFlags) bool {
	if f.noWatch {
		return false
	}
	declared := false
	for _, p := range selected(cfg, only) {
		if len(p.Watch) > 0 {
			declared = true
		}
	}
	if !declared {
		return false
	}
	if f.watch {
		return true
	}
	return os.Getenv("CI") == "" && os.Getpid() != 1
}

func selected(cfg *procfile.Config, only []string) []*procfile.Process {
	var out []*procfile.Process
	for _, p := range cfg.Processes {
		if len(only) == 0 || slices.Contains(only, p.Name) {
			out = append(out, p)
		}
	}
	return out
}

// startWatching is watch mode: the code watchers of the types that declare
// watch (startWatchers), and a watcher of the Clusterfile, its env files and
// .env, whose saves re-read the file and apply what changed (new types start,
// removed ones stop, changed counts scale, changed types roll; a file with
// errors changes nothing). Whenever a new file is put in force (a save, or
// cluster reload and SIGHUP, which applied tells of), watchers whose settings
// or files changed are replaced. One goroutine owns them all.
func startWatching(ctx context.Context, cfg *procfile.Config, extraEnv []string, only []string, r *runner.Runner, mux *logmux.Mux, applied *appliedConfigs) (func(), error) {
	ctx, cancel := context.WithCancel(ctx)
	files, err := newConfigWatcher(ctx, cfg, extraEnv, mux)
	if err != nil {
		cancel()
		return nil, err
	}
	plan := watchPlan(cfg, extraEnv, only)
	code, err := startWatchers(ctx, plan, r, mux, nil)
	if err != nil {
		files.stop()
		cancel()
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { code.stop() }()
		for {
			select {
			case <-ctx.Done():
				return
			case b, ok := <-files.Batches():
				if !ok {
					return
				}
				mux.Printf("%s changed: re-reading %s", describePaths(cfg.Dir, b.Paths), filepath.Base(cfg.Path))
				r.ApplyFile() // on an error the runner printed why and nothing changed
			case <-applied.changed:
				next := applied.take()
				if !slices.Equal(configPaths(cfg, extraEnv), configPaths(next, extraEnv)) {
					nf, err := newConfigWatcher(ctx, next, extraEnv, mux)
					if err != nil {
						mux.Printf("watching %s: %v", filepath.Base(cfg.Path), err)
					} else {
						files.stop()
						files = nf
					}
				}
				if nextPlan := watchPlan(next, extraEnv, only); !reflect.DeepEqual(plan, nextPlan) {
					code = replaceWatchers(ctx, code, plan, nextPlan, r, mux)
					plan = nextPlan
				}
				cfg = next
			}
		}
	}()
	return func() {
		cancel()
		<-done
		files.stop()
	}, nil
}

// replaceWatchers starts the watchers of plan, then finishes old ones: a
// change made before the new ones had read it is still sent by the old ones
// (see watch.Watcher.Finish), so no save is lost in between. A change made
// after the new ones had read it is seen by both: the handover lets only
// the first report of each file state through.
func replaceWatchers(ctx context.Context, old *codeWatchers, was, plan []watchGroup, reload reloader, mux *logmux.Mux) *codeWatchers {
	h := newHandover()
	fresh, err := startWatchers(ctx, plan, reload, mux, h)
	switch {
	case err != nil:
		mux.Printf("file watching is off: %v", err)
		fresh, _ = startWatchers(ctx, nil, reload, mux, nil)
	case len(plan) > 0 && !sameSettings(was, plan):
		mux.Printf("watch settings changed: watching with the new ones")
	}
	if betweenWatchers != nil {
		betweenWatchers()
	}
	old.handover.Store(h)
	old.finish()
	h.close(handoverGrace)
	return fresh
}

// betweenWatchers runs, in tests, once the new watchers have read the tree
// and before the old ones finish: a save then is seen by both.
var betweenWatchers func()

// handoverGrace is how long after the old watchers finished the new ones
// still drop what the old ones reported: a batch waits for quiet up to
// watch.DefaultMaxWait.
const handoverGrace = 2 * watch.DefaultMaxWait

// handover is shared by the watchers being replaced and their successors
// while both run: each path they report is recorded with the state of its
// file (size and mtime, or absent), and a report of a path whose file is
// in the state already recorded is the same save seen twice.
type handover struct {
	mu    sync.Mutex
	seen  map[string]fileStamp
	until time.Time // zero until the old watchers finished
}

type fileStamp struct {
	exists bool
	size   int64
	mtime  time.Time
}

func newHandover() *handover { return &handover{seen: map[string]fileStamp{}} }

func (h *handover) close(grace time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.until = time.Now().Add(grace)
}

// fresh is paths (relative to dir) without those reported already in the
// state their files are in now. A nil or closed handover keeps them all.
func (h *handover) fresh(dir string, paths []string) []string {
	if h == nil {
		return paths
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.until.IsZero() && time.Now().After(h.until) {
		return paths
	}
	var out []string
	for _, p := range paths {
		abs := filepath.Join(dir, filepath.FromSlash(p))
		var st fileStamp
		if fi, err := os.Lstat(abs); err == nil {
			st = fileStamp{true, fi.Size(), fi.ModTime()}
		}
		if prev, ok := h.seen[abs]; ok && prev == st {
			continue
		}
		h.seen[abs] = st
		out = append(out, p)
	}
	return out
}

// appliedConfigs hands the latest configuration the runner put in force
// (runner.Options.Applied) to the watching goroutine without ever blocking
// the runner: a newer one replaces one not taken yet.
type appliedConfigs struct {
	mu      sync.Mutex
	cfg     *procfile.Config
	changed chan struct{}
}

func newAppliedConfigs() *appliedConfigs {
	return &appliedConfigs{changed: make(chan struct{}, 1)}
}

func (a *appliedConfigs) set(cfg *procfile.Config) {
	a.mu.Lock()
	a.cfg = cfg
	a.mu.Unlock()
	select {
	case a.changed <- struct{}{}:
	default:
	}
}

func (a *appliedConfigs) take() *procfile.Config {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg
}

// configWatcher is a running watch.Files.
type configWatcher struct {
	*watch.Files
	stop func()
}

func newConfigWatcher(ctx context.Context, cfg *procfile.Config, extraEnv []string, mux *logmux.Mux) (*configWatcher, error) {
	f, err := watch.NewFiles(configPaths(cfg, extraEnv), 0, func(s string) { mux.Printf("%s", s) })
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Run(ctx)
	}()
	return &configWatcher{f, func() {
		cancel()
		for range f.Batches() {
		}
		<-done
	}}, nil
}

// configPaths: the Clusterfile (or Procfile), every env file it read, the -e
// files and .env beside it (read or not: a new .env may matter; not for a
// Procfile with -e, which reads those instead), sorted.
func configPaths(cfg *procfile.Config, extraEnv []string) []string {
	paths := []string{cfg.Path}
	if cfg.Format != procfile.FormatProcfile || len(extraEnv) == 0 {
		paths = append(paths, filepath.Join(cfg.Dir, ".env"))
	}
	for _, e := range append(slices.Clone(cfg.EnvFiles), extraEnv...) {
		if !filepath.IsAbs(e) {
			e = filepath.Join(cfg.Dir, e)
		}
		paths = append(paths, filepath.Clean(e))
	}
	slices.Sort(paths)
	return slices.Compact(paths)
}

func describePaths(dir string, paths []string) string {
	names := make([]string, len(paths))
	for i, p := range paths {
		if rel, err := filepath.Rel(dir, p); err == nil && !strings.HasPrefix(rel, "..") {
			p = rel
		}
		names[i] = p
	}
	return strings.Join(names, ", ")
}

// watchedType is what a code watcher needs of a type.
type watchedType struct {
	name          string
	watch, ignore []string
}

// watchGroup is one code watcher: the selected types that declare watch and
// share a dir and a watch_poll.
type watchGroup struct {
	dir   string
	poll  time.Duration
	types []watchedType
	// config: the Clusterfile and env files below dir, as globs. They are
	// left to the config watcher, which rolls only the types whose
	// settings a save changed.
	config []string
}

// watchPlan is the code watchers cfg calls for, in file order: all that
// they depend on, so that a file whose plan is the same needs no new ones
// (a new type without watch, a changed command).
func watchPlan(cfg *procfile.Config, extraEnv, only []string) []watchGroup {
	var plan []watchGroup
	for _, p := range selected(cfg, only) {
		if len(p.Watch) == 0 {
			continue
		}
		i := slices.IndexFunc(plan, func(g watchGroup) bool { return g.dir == p.Dir && g.poll == p.WatchPoll })
		if i < 0 {
			plan = append(plan, watchGroup{dir: p.Dir, poll: p.WatchPoll})
			i = len(plan) - 1
		}
		plan[i].types = append(plan[i].types, watchedType{p.Name, p.Watch, p.WatchIgnore})
	}
	for i := range plan {
		plan[i].config = configGlobs(plan[i].dir, configPaths(cfg, extraEnv))
	}
	return plan
}

// sameSettings: a and b differ at most in their config files.
func sameSettings(a, b []watchGroup) bool {
	strip := func(plan []watchGroup) []watchGroup {
		out := slices.Clone(plan)
		for i := range out {
			out[i].config = nil
		}
		return out
	}
	return reflect.DeepEqual(strip(a), strip(b))
}

// configGlobs: the files among paths that lie below dir, as globs matching
// each alone, and where a symlink among them (.env -> .env.development)
// points, when that is below dir too.
func configGlobs(dir string, paths []string) []string {
	var out []string
	for _, p := range paths {
		names := []string{p}
		if t, err := os.Readlink(p); err == nil {
			if !filepath.IsAbs(t) {
				t = filepath.Join(filepath.Dir(p), t)
			}
			names = append(names, filepath.Clean(t))
		}
		for _, n := range names {
			rel, err := filepath.Rel(dir, n)
			if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				continue
			}
			out = append(out, quoteGlob(filepath.ToSlash(rel)))
		}
	}
	return out
}

// quoteGlob is the glob that matches the path p and nothing else.
func quoteGlob(p string) string {
	var b strings.Builder
	for _, r := range p {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// codeWatchers are the running watchers of one plan, and the goroutines
// that turn their batches into reloads.
type codeWatchers struct {
	ws     []*watch.Watcher
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// handover is set on watchers being replaced, before they finish.
	handover atomic.Pointer[handover]
}

// stop ends them at once, dropping what waits for quiet (shutdown).
func (c *codeWatchers) stop() {
	c.cancel()
	c.wg.Wait()
}

// finish ends them once what they saw is sent on and reloaded.
func (c *codeWatchers) finish() {
	for _, w := range c.ws {
		w.Finish()
	}
	c.wg.Wait()
	c.cancel()
}

// startWatchers runs one watcher per group of plan, with the union of its
// types' globs, and turns each batch into one rolling reload of every type
// whose own globs match a changed path. h, when set, is the handover from
// the watchers these replace.
func startWatchers(ctx context.Context, plan []watchGroup, reload reloader, mux *logmux.Mux, h *handover) (*codeWatchers, error) {
	ctx, cancel := context.WithCancel(ctx)
	c := &codeWatchers{cancel: cancel}
	for _, g := range plan {
		opts := watch.Options{Root: g.dir, Poll: g.poll, Warn: func(s string) { mux.Printf("%s", s) }}
		for _, t := range g.types {
			opts.Include = append(opts.Include, t.watch...)
		}
		// An ignore of one type must not hide a file from another: only
		// those of every type prune; matches applies each type's own.
		opts.Ignore = append(commonIgnores(g.types), g.config...)
		w, err := watch.New(opts)
		if err != nil {
			c.stop()
			return nil, err
		}
		c.ws = append(c.ws, w)
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			go w.Run(ctx)
			for b := range w.Batches() {
				hh := h
				if old := c.handover.Load(); old != nil {
					hh = old
				}
				b.Paths = hh.fresh(g.dir, b.Paths)
				reloadBatch(g, b, reload, mux)
			}
		}()
	}
	return c, nil
}

// reloadBatch reloads the types of g that a batch's paths match, and says
// why. A rescan after the kernel's event queue overflowed compares with the
// snapshot: only what it found counts.
func reloadBatch(g watchGroup, b watch.Batch, reload reloader, mux *logmux.Mux) {
	if len(b.Paths) == 0 && !b.Rescan {
		return
	}
	var names []string
	for _, t := range g.types {
		if matches(g.dir, t, b.Paths) {
			names = append(names, t.name)
		}
	}
	if len(names) == 0 {
		if b.Rescan {
			mux.Printf("event queue overflowed; rescanned: no watched file changed")
		}
		return
	}
	what := b.Paths[0] + " changed"
	if len(b.Paths) > 1 {
		what = b.Paths[0] + " and " + itoa(len(b.Paths)-1) + " more changed"
	}
	// A type stopped by cluster stop TYPE is not reloaded: say
	// so rather than announce a reload that does nothing.
	stopped := reload.StoppedTypes(names...)
	names = slices.DeleteFunc(names, func(n string) bool { return slices.Contains(stopped, n) })
	var skip string
	switch len(stopped) {
	case 0:
	case 1:
		skip = stopped[0] + " is stopped, not reloading"
	default:
		skip = strings.Join(stopped, ", ") + " are stopped, not reloading"
	}
	switch {
	case len(names) == 0:
		mux.Printf("%s: %s", what, skip)
		return
	case skip != "":
		mux.Printf("%s: reloading %v; %s", what, names, skip)
	default:
		mux.Printf("%s: reloading %v", what, names)
	}
	reload.Reload(names...)
}

// reloader is what the code watchers ask of the runner.
type reloader interface {
	Reload(names ...string) error
	// StoppedTypes: those of names stopped by cluster stop TYPE.
	StoppedTypes(names ...string) []string
}

// commonIgnores: the watch_ignore globs every one of ts has.
func commonIgnores(ts []watchedType) []string {
	var out []string
	for _, g := range ts[0].ignore {
		all := true
		for _, t := range ts[1:] {
			all = all && slices.Contains(t.ignore, g)
		}
		if all {
			out = append(out, g)
		}
	}
	return out
}

// matches: some path matches one of t's watch globs, and neither it nor a
// directory above it matches one of its ignores (an ignore that matches a
// directory covers what is below it, as when the watcher prunes it). A
// path reached through a symlink into dir is ignored also when where it
// leads is (watch_ignore = ["src/gen"], ln -s gen src/current).
func matches(dir string, t watchedType, paths []string) bool {
	for _, p := range paths {
		if !matchWatch(t.watch, p) || ignored(t.ignore, p) {
			continue
		}
		if real, ok := resolvedRel(dir, p); ok && real != p && ignored(t.ignore, real) {
			continue
		}
		return true
	}
	return false
}

// resolvedRel is the path p (relative to dir) with the symlinks in its
// directories resolved, relative to dir's real path, when it lies below it.
func resolvedRel(dir, p string) (string, bool) {
	if dir == "" || !strings.Contains(p, "/") {
		return "", false
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", false
	}
	parent, err := filepath.EvalSymlinks(filepath.Join(dir, filepath.FromSlash(path.Dir(p))))
	if err != nil {
		return "", false
	}
	rel, err := filepath.Rel(realDir, filepath.Join(parent, path.Base(p)))
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

func ignored(globs []string, file string) bool {
	for p := path.Clean(file); p != "." && p != "/"; p = path.Dir(p) {
		if matchAny(globs, p) {
			return true
		}
	}
	return false
}

// matchWatch: path matches one of the watch globs (see watch.MatchWatch).
func matchWatch(globs []string, path string) bool {
	for _, g := range globs {
		if watch.MatchWatch(g, path) {
			return true
		}
	}
	return false
}

func matchAny(globs []string, path string) bool {
	for _, g := range globs {
		if watch.Match(g, path) {
			return true
		}
	}
	return false
}

func itoa(n int) string { return strconv.Itoa(n) }
