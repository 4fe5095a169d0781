package main

import (
	"context"
	"os"
	"slices"
	"strconv"

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
			opts.Ignore = nil // an ignore of one type must not hide a file from another; filtered per type below
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

// matches: some path matches one of p's watch globs and none of its ignores.
func matches(p *procfile.Process, paths []string) bool {
	for _, path := range paths {
		in := false
		for _, g := range p.Watch {
			if watch.Match(g, path) {
				in = true
				break
			}
		}
		for _, g := range p.WatchIgnore {
			if watch.Match(g, path) {
				in = false
				break
			}
		}
		if in {
			return true
		}
	}
	return false
}

func itoa(n int) string { return strconv.Itoa(n) }
