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
	stopCode := func() {}
	if codeWatched(cfg, only) {
		if stopCode, err = startWatchers(ctx, cfg, only, r, mux); err != nil {
			files.stop()
			cancel()
			return nil, err
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { stopCode() }()
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
				if !sameWatching(cfg, next, only) {
					stopCode()
					stopCode = func() {}
					if codeWatched(next, only) {
						s, err := startWatchers(ctx, next, only, r, mux)
						if err != nil {
							mux.Printf("file watching is off: %v", err)
						} else {
							stopCode = s
							mux.Printf("watch settings changed: watching with the new ones")
						}
					}
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
// files and .env beside it (read or not: a new .env may matter), sorted.
func configPaths(cfg *procfile.Config, extraEnv []string) []string {
	paths := []string{cfg.Path, filepath.Join(cfg.Dir, ".env")}
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

func codeWatched(cfg *procfile.Config, only []string) bool {
	for _, p := range selected(cfg, only) {
		if len(p.Watch) > 0 {
			return true
		}
	}
	return false
}

// sameWatching: the code watchers of a and b would be the same.
func sameWatching(a, b *procfile.Config, only []string) bool {
	type w struct {
		name, dir     string
		watch, ignore []string
		poll          int64
	}
	list := func(cfg *procfile.Config) []w {
		var out []w
		for _, p := range selected(cfg, only) {
			out = append(out, w{p.Name, p.Dir, p.Watch, p.WatchIgnore, int64(p.WatchPoll)})
		}
		return out
	}
	return reflect.DeepEqual(list(a), list(b))
}

// startWatchers runs one watcher per distinct (dir, poll) of the watched
// types, with the union of their globs, and turns each batch into one rolling
// reload of every type whose own globs match a changed path.
func startWatchers(ctx context.Context, cfg *procfile.Config, only []string, r *runner.Runner, mux *logmux.Mux) (func(), error) {
	type key struct {
		dir  string
		poll int64
	}
	groups := map[key][]*procfile.Process{}
	var order []key
	for _, p := range selected(cfg, only) {
		if len(p.Watch) == 0 {
			continue
		}
		k := key{p.Dir, int64(p.WatchPoll)}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], p)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{}, len(order))
	started := 0
	for _, k := range order {
		ps := groups[k]
		opts := watch.Options{Root: k.dir, Poll: ps[0].WatchPoll, Warn: func(s string) { mux.Printf("%s", s) }}
		for _, p := range ps {
			opts.Include = append(opts.Include, p.Watch...)
			opts.Ignore = append(opts.Ignore, p.WatchIgnore...)
		}
		if len(ps) > 1 {
			// An ignore of one type must not hide a file from another: only
			// those of every type prune; matches applies each type's own.
			opts.Ignore = commonIgnores(ps)
		}
		w, err := watch.New(opts)
		if err != nil {
			cancel()
			return nil, err
		}
		started++
		go func() {
			defer func() { done <- struct{}{} }()
			go w.Run(ctx)
			for b := range w.Batches() {
				var reload []string
				for _, p := range ps {
					if b.Rescan || matches(p, b.Paths) {
						reload = append(reload, p.Name)
					}
				}
				if len(reload) == 0 {
					continue
				}
				what := "files changed"
				if len(b.Paths) > 0 {
					what = b.Paths[0] + " changed"
					if len(b.Paths) > 1 {
						what = b.Paths[0] + " and " + itoa(len(b.Paths)-1) + " more changed"
					}
				}
				mux.Printf("%s: reloading %v", what, reload)
				r.Reload(reload...)
			}
		}()
	}
	return func() {
		cancel()
		for range started {
			<-done
		}
	}, nil
}

// commonIgnores: the watch_ignore globs every one of ps has.
func commonIgnores(ps []*procfile.Process) []string {
	var out []string
	for _, g := range ps[0].WatchIgnore {
		all := true
		for _, p := range ps[1:] {
			all = all && slices.Contains(p.WatchIgnore, g)
		}
		if all {
			out = append(out, g)
		}
	}
	return out
}

// matches: some path matches one of p's watch globs, and neither it nor a
// directory above it matches one of its ignores (an ignore that matches a
// directory covers what is below it, as when the watcher prunes it).
func matches(p *procfile.Process, paths []string) bool {
	for _, path := range paths {
		if matchAny(p.Watch, path) && !ignored(p.WatchIgnore, path) {
			return true
		}
	}
	return false
}

func ignored(globs []string, file string) bool {
	for p := path.Clean(file); p != "." && p != "/"; p = path.Dir(p) {
		if matchAny(globs, p) {
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
