package watch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Files watches a few named files, such as a Clusterfile and its env files,
// rather than a tree: only their directories are watched, not recursively,
// and only events on the named paths count. Editors that save by writing a
// temp file and renaming it over the original are seen (the rename's create
// event names the file); so are files that do not exist yet and appear later.
// A path that is a symlink (.env -> .env.development) also changes when the
// file it points to does, and when it is pointed elsewhere. Batches carry
// the absolute paths that changed, as given (the link, not its target).
//
// When the notifier cannot be had (no inotify instances left, or Poll set),
// the files' size and mtime are compared every Poll (FallbackPoll when zero).
type Files struct {
	paths []string // absolute, cleaned, sorted
	// targets maps the file a symlink among paths points to (resolved in
	// full) to the paths that point to it: editing an env file through its
	// link (.env -> .env.development) changes the target, not the link.
	targets map[string][]string
	links   map[string]string // the inverse: a symlink among paths to its target
	poll    time.Duration
	quiet   time.Duration
	n       notifier
	batches chan Batch
	last    []fileStamp // polling: what the files were at the last look
}

// NewFiles watches paths (relative ones are made absolute). poll > 0 polls at
// that interval instead of using the kernel's notifications; warn receives
// the one line said when notifications are not available (nil: stderr).
func NewFiles(paths []string, poll time.Duration, warn func(string)) (*Files, error) {
	if warn == nil {
		warn = func(s string) { fmt.Fprintln(os.Stderr, s) }
	}
	f := &Files{poll: poll, quiet: DefaultQuiet, batches: make(chan Batch)}
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("watch: %w", err)
		}
		if !slices.Contains(f.paths, abs) {
			f.paths = append(f.paths, abs)
		}
	}
	slices.Sort(f.paths)
	if f.poll > 0 {
		f.last = f.stamps()
		return f, nil
	}
	f.targets, f.links = map[string][]string{}, map[string]string{}
	watch := slices.Clone(f.paths)
	for _, p := range f.paths {
		if t := f.resolve(p); t != "" {
			watch = append(watch, t)
		}
	}
	n, err := newFilesNotifier()
	var dirs []string
	if err == nil {
		for _, p := range watch {
			if d := filepath.Dir(p); !slices.Contains(dirs, d) {
				dirs = append(dirs, d)
				if err = n.Add(d); err != nil {
					n.Close()
					break
				}
			}
		}
	}
	if err != nil {
		if msg := limitWarning(err, max(len(dirs)-1, 0), FallbackPoll.String()); msg != "" {
			warn(msg) // a full inotify table, not a full disk (both are ENOSPC)
		} else {
			warn(fmt.Sprintf("watch: %v: checking %s every %s instead", err, describe(f.paths), FallbackPoll))
		}
		f.poll = FallbackPoll
		f.last = f.stamps()
		return f, nil
	}
	f.n = n
	return f, nil
}

// resolve records where the path p points when it is a symlink (or lies
// under one), replacing what it pointed to before, and returns that target
// when it is new ("" when p is no link, is dangling, or points where it did).
func (f *Files) resolve(p string) string {
	t, err := filepath.EvalSymlinks(p)
	if err != nil || t == p {
		t = ""
	}
	old := f.links[p]
	if t == old {
		return ""
	}
	if old != "" {
		f.targets[old] = slices.DeleteFunc(f.targets[old], func(q string) bool { return q == p })
		if len(f.targets[old]) == 0 {
			delete(f.targets, old)
		}
		delete(f.links, p)
	}
	if t != "" {
		f.links[p] = t
		f.targets[t] = append(f.targets[t], p)
	}
	return t
}

// newFilesNotifier is fsnotify; tests replace it.
var newFilesNotifier = newFSNotifier

func describe(paths []string) string {
	if len(paths) == 1 {
		return paths[0]
	}
	return fmt.Sprintf("%s and %d more", paths[0], len(paths)-1)
}

// Batches delivers the batches; Run closes it when it returns.
func (f *Files) Batches() <-chan Batch { return f.batches }

// Run sends batches until ctx is done, then closes Batches and releases the
// notifier. Run is called once.
func (f *Files) Run(ctx context.Context) error {
	defer close(f.batches)
	ctx, cancel := context.WithCancel(ctx)
	changes := make(chan change)
	debounced := make(chan struct{})
	go func() {
		defer close(debounced)
		debounce(ctx, changes, f.batches, f.quiet, DefaultMaxWait)
	}()
	defer func() {
		cancel()
		<-debounced
		if f.n != nil {
			f.n.Close()
		}
	}()
	send := func(paths []string) bool {
		select {
		case changes <- change{paths: paths}:
			return true
		case <-ctx.Done():
			return false
		}
	}
	if f.n == nil {
		return f.runPoll(ctx, send)
	}
	events, errs := f.n.Events(), f.n.Errors()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err, ok := <-errs:
			if !ok {
				return nil
			}
			// A queue overflow may have hidden an event on our files: count
			// them all as changed, the caller re-reads them anyway.
			_ = err
			if !send(f.paths) {
				return nil
			}
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			if ev.Op == fsnotify.Chmod {
				continue
			}
			name := filepath.Clean(ev.Name)
			changed := f.targets[name]
			if _, found := slices.BinarySearch(f.paths, name); found {
				// A link may point elsewhere now (ln -sf): watch there.
				if t := f.resolve(name); t != "" {
					f.n.Add(filepath.Dir(t))
				}
				changed = append(slices.Clone(changed), name)
			}
			if len(changed) > 0 && !send(changed) {
				return nil
			}
		}
	}
}

type fileStamp struct {
	size  int64
	mtime time.Time
	ok    bool
}

func (f *Files) stamps() []fileStamp {
	out := make([]fileStamp, len(f.paths))
	for i, p := range f.paths {
		if fi, err := os.Stat(p); err == nil {
			out[i] = fileStamp{fi.Size(), fi.ModTime(), true}
		}
	}
	return out
}

func (f *Files) runPoll(ctx context.Context, send func([]string) bool) error {
	last := f.last
	t := time.NewTicker(f.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		now := f.stamps()
		var changed []string
		for i := range now {
			if now[i] != last[i] {
				changed = append(changed, f.paths[i])
			}
		}
		last = now
		if len(changed) > 0 && !send(changed) {
			return nil
		}
	}
}
