package watch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// start creates a Watcher and runs it until the test ends.
func start(t *testing.T, opts Options) *Watcher {
	t.Helper()
	w, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		for range w.Batches() {
		}
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return w
}

// collect reads batches until together they hold every wanted path, and
// returns them.
func collect(t *testing.T, w *Watcher, want ...string) []Batch {
	t.Helper()
	deadline := time.After(10 * time.Second)
	seen := map[string]bool{}
	var got []Batch
	for {
		missing := false
		for _, p := range want {
			if !seen[p] {
				missing = true
			}
		}
		if !missing {
			return got
		}
		select {
		case b, ok := <-w.Batches():
			if !ok {
				t.Fatalf("Batches closed; got %v, want %v", got, want)
			}
			got = append(got, b)
			for _, p := range b.Paths {
				seen[p] = true
			}
		case <-deadline:
			t.Fatalf("timed out: got batches %v, want paths %v", got, want)
		}
	}
}

// noBatch fails if a batch arrives within d.
func noBatch(t *testing.T, w *Watcher, d time.Duration) {
	t.Helper()
	select {
	case b := <-w.Batches():
		t.Fatalf("unexpected batch %+v", b)
	case <-time.After(d):
	}
}

// eventually polls cond until it holds or a deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func allPaths(bs []Batch) []string {
	var all []string
	for _, b := range bs {
		all = append(all, b.Paths...)
	}
	return all
}

type warnings struct {
	mu    sync.Mutex
	lines []string
}

func (w *warnings) warn(s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines = append(w.lines, s)
}

func (w *warnings) get() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.lines)
}

func TestNewRootErrors(t *testing.T) {
	if _, err := New(Options{Root: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Error("New with a missing root: no error")
	}
	file := filepath.Join(t.TempDir(), "f")
	mustWrite(t, file, "x")
	if _, err := New(Options{Root: file}); err == nil {
		t.Error("New with a file as root: no error")
	}
}

// mkdir -p a/b/c && echo x > a/b/c/f, faster than the watcher can add
// watches: the file must still be reported and every level watched.
func TestNewNestedDirectories(t *testing.T) {
	root := t.TempDir()
	w := start(t, Options{Root: root})
	if n := w.Watches(); n != 1 {
		t.Fatalf("Watches() = %d, want 1", n)
	}
	mustWrite(t, filepath.Join(root, "a", "b", "c", "f"), "x")
	collect(t, w, "a/b/c/f")
	eventually(t, "4 watches", func() bool { return w.Watches() == 4 })

	// A tree moved in whole: its files existed before any watch.
	outside := t.TempDir()
	mustWrite(t, filepath.Join(outside, "x", "y", "z", "g"), "x")
	mustWrite(t, filepath.Join(outside, "x", "h"), "x")
	if err := os.Rename(filepath.Join(outside, "x"), filepath.Join(root, "x")); err != nil {
		t.Fatal(err)
	}
	collect(t, w, "x/y/z/g", "x/h")
	eventually(t, "7 watches", func() bool { return w.Watches() == 7 })

	// Watches follow the new directories: an edit deep inside is seen.
	mustWrite(t, filepath.Join(root, "x", "y", "z", "g"), "edited")
	collect(t, w, "x/y/z/g")
}

// vim's save with backupcopy=no: a "4913" probe, the file renamed to file~,
// the new file written, file~ removed. One batch, only the real file.
func TestVimAtomicSave(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "main.go")
	mustWrite(t, file, "package main\n")
	w := start(t, Options{Root: root, Quiet: 300 * time.Millisecond})

	mustWrite(t, filepath.Join(root, ".main.go.swp"), "swap")
	probe := filepath.Join(root, "4913")
	mustWrite(t, probe, "")
	if err := os.Remove(probe); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(file, file+"~"); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, file, "package main\n\nfunc main() {}\n")
	if err := os.Remove(file + "~"); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(root, ".main.go.swp"), "swap2")

	select {
	case b := <-w.Batches():
		if !slices.Equal(b.Paths, []string{"main.go"}) {
			t.Errorf("batch = %v, want [main.go]", b.Paths)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no batch")
	}
	noBatch(t, w, time.Second)
}

func TestBurstIsOneBatch(t *testing.T) {
	root := t.TempDir()
	mustMkdir(t, filepath.Join(root, "d"))
	w := start(t, Options{Root: root, Quiet: 500 * time.Millisecond, MaxWait: time.Minute})
	var want []string
	for i := range 2000 {
		rel := fmt.Sprintf("d/f%04d", i)
		want = append(want, rel)
		mustWrite(t, filepath.Join(root, rel), "x")
	}
	select {
	case b := <-w.Batches():
		if !slices.Equal(b.Paths, want) {
			t.Errorf("batch has %d paths, want the 2000 files", len(b.Paths))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no batch")
	}
	noBatch(t, w, time.Second)
}

func TestIgnoredDirectoriesGetNoWatches(t *testing.T) {
	root := t.TempDir()
	for i := range 100 {
		mustWrite(t, filepath.Join(root, "node_modules", fmt.Sprintf("pkg%d", i), "index.js"), "x")
	}
	mustWrite(t, filepath.Join(root, ".git", "objects", "ab", "cd"), "x")
	mustWrite(t, filepath.Join(root, "dist", "x", "app.js"), "x")
	mustWrite(t, filepath.Join(root, ".gitignore"), "build/\n*.log\n")
	mustWrite(t, filepath.Join(root, "build", "out.o"), "x")
	mustWrite(t, filepath.Join(root, "src", "a", "b", "app.js"), "x")
	// A nested .gitignore with a leading "/" anchors to its own directory.
	mustWrite(t, filepath.Join(root, "sub", ".gitignore"), "/gen\n")
	mustWrite(t, filepath.Join(root, "sub", "gen", "g.go"), "x")
	mustWrite(t, filepath.Join(root, "sub", "x", "gen", "g.go"), "x")

	w := start(t, Options{Root: root, Ignore: []string{"dist/**"}})
	// root, src, src/a, src/a/b, sub, sub/x, sub/x/gen
	if n := w.Watches(); n != 7 {
		t.Fatalf("Watches() = %d, want 7", n)
	}

	// Changes in pruned places never show; a sentinel edit proves the
	// watcher was listening.
	mustWrite(t, filepath.Join(root, "node_modules", "pkg1", "index.js"), "y")
	mustWrite(t, filepath.Join(root, "sub", "gen", "g.go"), "y")
	mustWrite(t, filepath.Join(root, "dist", "app.js"), "y")
	mustWrite(t, filepath.Join(root, "debug.log"), "y")
	mustWrite(t, filepath.Join(root, "src", "a", "b", "new", "node_modules", "m", "i.js"), "y")
	mustWrite(t, filepath.Join(root, "sub", "x", "gen", "g.go"), "y")
	got := allPaths(collect(t, w, "sub/x/gen/g.go"))
	for _, p := range got {
		if p != "sub/x/gen/g.go" {
			t.Errorf("ignored path %q reported", p)
		}
	}
	// src/a/b/new is watched, its node_modules is not.
	eventually(t, "8 watches", func() bool { return w.Watches() == 8 })
}

func TestIncludeGlobs(t *testing.T) {
	root := t.TempDir()
	w := start(t, Options{Root: root, Include: []string{"**/*.go", "go.mod"}, Ignore: []string{"**/*_test.go"}})
	mustWrite(t, filepath.Join(root, "notes.txt"), "x")
	mustWrite(t, filepath.Join(root, "pkg", "a_test.go"), "x")
	mustWrite(t, filepath.Join(root, "go.mod"), "x")
	mustWrite(t, filepath.Join(root, "pkg", "a.go"), "x")
	got := allPaths(collect(t, w, "go.mod", "pkg/a.go"))
	slices.Sort(got)
	if want := []string{"go.mod", "pkg/a.go"}; !slices.Equal(slices.Compact(got), want) {
		t.Errorf("paths = %v, want %v", got, want)
	}
}

func TestRemoveAndRenameDirectories(t *testing.T) {
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "old", "x", "f"), "x")
	mustWrite(t, filepath.Join(root, "gone", "y", "g"), "x")
	w := start(t, Options{Root: root})
	if n := w.Watches(); n != 5 {
		t.Fatalf("Watches() = %d, want 5", n)
	}

	if err := os.RemoveAll(filepath.Join(root, "gone")); err != nil {
		t.Fatal(err)
	}
	collect(t, w, "gone/y/g")
	eventually(t, "3 watches", func() bool { return w.Watches() == 3 })

	if err := os.Rename(filepath.Join(root, "old"), filepath.Join(root, "new")); err != nil {
		t.Fatal(err)
	}
	collect(t, w, "old/x/f", "new/x/f")
	eventually(t, "3 watches", func() bool { return w.Watches() == 3 })
	mustWrite(t, filepath.Join(root, "new", "x", "f"), "edited")
	for _, p := range allPaths(collect(t, w, "new/x/f")) {
		if strings.HasPrefix(p, "old/") {
			t.Errorf("edit under the renamed directory reported as %q", p)
		}
	}
}

// Editing .gitignore re-evaluates what is pruned below it.
func TestGitignoreEdited(t *testing.T) {
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "gen", "out.go"), "x")
	w := start(t, Options{Root: root})
	if n := w.Watches(); n != 2 {
		t.Fatalf("Watches() = %d, want 2", n)
	}
	mustWrite(t, filepath.Join(root, ".gitignore"), "gen/\n")
	collect(t, w, ".gitignore")
	eventually(t, "gen unwatched", func() bool { return w.Watches() == 1 })
}

// fakeNotifier stands in for fsnotify where the kernel cannot be made to
// misbehave on demand. Its events come only from the test.
type fakeNotifier struct {
	mu     sync.Mutex
	dirs   map[string]bool
	addErr func(watched int) error
	// dirErr, when set, is Add's error for one directory (nil: none).
	dirErr func(dir string) error
	events chan fsnotify.Event
	errs   chan error
	closed bool
}

func newFake(addErr func(int) error) *fakeNotifier {
	return &fakeNotifier{
		dirs:   map[string]bool{},
		addErr: addErr,
		events: make(chan fsnotify.Event),
		errs:   make(chan error),
	}
}

func (f *fakeNotifier) Add(dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.addErr != nil {
		if err := f.addErr(len(f.dirs)); err != nil {
			return err
		}
	}
	if f.dirErr != nil {
		if err := f.dirErr(dir); err != nil {
			return err
		}
	}
	f.dirs[dir] = true
	return nil
}

func (f *fakeNotifier) Remove(dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.dirs, dir)
	return nil
}

func (f *fakeNotifier) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.dirs)
}

func (f *fakeNotifier) Events() <-chan fsnotify.Event { return f.events }
func (f *fakeNotifier) Errors() <-chan error          { return f.errs }

func (f *fakeNotifier) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.closed = true
		close(f.events)
		close(f.errs)
	}
	return nil
}

func (f *fakeNotifier) sendErr(t *testing.T, err error) {
	t.Helper()
	select {
	case f.errs <- err:
	case <-time.After(10 * time.Second):
		t.Fatal("nobody drains the notifier")
	}
}

func (f *fakeNotifier) sendEvent(t *testing.T, ev fsnotify.Event) {
	t.Helper()
	select {
	case f.events <- ev:
	case <-time.After(10 * time.Second):
		t.Fatal("nobody drains the notifier")
	}
}

// Events were lost (queue overflow): a rescan against the size+mtime
// snapshot finds what changed and sends it as one batch.
func TestOverflowRescans(t *testing.T) {
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "edited"), "x")
	mustWrite(t, filepath.Join(root, "deleted"), "x")
	mustWrite(t, filepath.Join(root, "same"), "x")
	fake := newFake(nil)
	w := start(t, Options{Root: root, newNotifier: func() (notifier, error) { return fake, nil }})

	mustWrite(t, filepath.Join(root, "edited"), "longer")
	if err := os.Remove(filepath.Join(root, "deleted")); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(root, "newdir", "sub", "f"), "x")
	mustWrite(t, filepath.Join(root, "node_modules", "m", "f"), "x")
	fake.sendErr(t, fsnotify.ErrEventOverflow)

	select {
	case b := <-w.Batches():
		want := []string{"deleted", "edited", "newdir/sub/f"}
		if !b.Rescan || !slices.Equal(b.Paths, want) {
			t.Errorf("batch = %+v, want Rescan with %v", b, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no batch after overflow")
	}
	if n := w.Watches(); n != 3 {
		t.Errorf("Watches() = %d after rescan, want 3 (root, newdir, newdir/sub)", n)
	}
}

// Out of inotify watches while walking: one warning naming the sysctl,
// then polling finds changes.
func TestWatchLimitFallsBackToPolling(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"a", "b", "c", "d"} {
		mustWrite(t, filepath.Join(root, d, "f"), "x")
	}
	var warns warnings
	fake := newFake(func(watched int) error {
		if watched >= 2 {
			return syscall.ENOSPC
		}
		return nil
	})
	w := start(t, Options{Root: root, Warn: warns.warn, newNotifier: func() (notifier, error) { return fake, nil }})
	lines := warns.get()
	if len(lines) != 1 || !strings.Contains(lines[0], "fs.inotify.max_user_watches") || !strings.Contains(lines[0], "polling every 1s") {
		t.Fatalf("warnings = %q, want one naming fs.inotify.max_user_watches", lines)
	}
	if n := w.Watches(); n != 0 {
		t.Errorf("Watches() = %d while polling, want 0", n)
	}
	mustWrite(t, filepath.Join(root, "d", "f"), "edited")
	mustWrite(t, filepath.Join(root, "e", "f"), "new")
	collect(t, w, "d/f", "e/f")
	if n := len(warns.get()); n != 1 {
		t.Errorf("%d warnings, want 1", n)
	}
}

// The same, when the limit is hit by a directory created while running.
func TestWatchLimitWhileRunning(t *testing.T) {
	root := t.TempDir()
	var warns warnings
	fake := newFake(func(watched int) error {
		if watched >= 1 {
			return syscall.ENOSPC
		}
		return nil
	})
	w := start(t, Options{Root: root, Warn: warns.warn, newNotifier: func() (notifier, error) { return fake, nil }})
	mustWrite(t, filepath.Join(root, "new", "f"), "x")
	fake.sendEvent(t, fsnotify.Event{Name: filepath.Join(root, "new"), Op: fsnotify.Create})
	collect(t, w, "new/f")
	eventually(t, "a warning", func() bool { return len(warns.get()) == 1 })
	mustWrite(t, filepath.Join(root, "new", "g"), "x")
	collect(t, w, "new/g") // found by polling: the fake sends no events
}

// A tree bigger than the descriptor budget (kqueue: a descriptor per file)
// is polled from the start, with one warning; on Linux the budget is 0
// (inotify), so the test sets one.
func TestDescriptorBudgetFallsBackToPolling(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"a/1", "a/2", "b/1", "b/2", "b/3"} {
		mustWrite(t, filepath.Join(root, f), "x")
	}
	var warns warnings
	fake := newFake(nil)
	w := start(t, Options{Root: root, Warn: warns.warn, budget: 6, newNotifier: func() (notifier, error) { return fake, nil }})
	if lines := warns.get(); len(lines) != 1 || !strings.Contains(lines[0], "more than 6 files and directories") || !strings.Contains(lines[0], "polling every 1s") {
		t.Fatalf("warnings = %q, want one about the budget", lines)
	}
	if n := w.Watches(); n != 0 {
		t.Errorf("Watches() = %d while polling, want 0", n)
	}
	mustWrite(t, filepath.Join(root, "b", "3"), "edited")
	collect(t, w, "b/3") // found by polling: the fake sends no events
}

// Within the budget, watches are added as usual.
func TestDescriptorBudgetWithin(t *testing.T) {
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "a", "1"), "x")
	var warns warnings
	fake := newFake(nil)
	w := start(t, Options{Root: root, Warn: warns.warn, budget: 4, newNotifier: func() (notifier, error) { return fake, nil }})
	if lines := warns.get(); len(lines) != 0 || w.Watches() != 2 {
		t.Errorf("warnings %q, %d watches; want none and 2 (root and a cost 2 each: themselves and their entry)", lines, w.Watches())
	}
}

func TestInstanceLimitFallsBackToPolling(t *testing.T) {
	root := t.TempDir()
	var warns warnings
	w := start(t, Options{Root: root, Warn: warns.warn, newNotifier: func() (notifier, error) {
		return nil, fmt.Errorf("couldn't initialize inotify: %w", syscall.EMFILE)
	}})
	if lines := warns.get(); len(lines) != 1 || !strings.Contains(lines[0], "fs.inotify.max_user_instances") {
		t.Fatalf("warnings = %q, want one naming fs.inotify.max_user_instances", lines)
	}
	mustWrite(t, filepath.Join(root, "f"), "x")
	collect(t, w, "f")
}

func TestOtherNotifierErrorFailsNew(t *testing.T) {
	_, err := New(Options{Root: t.TempDir(), newNotifier: func() (notifier, error) {
		return nil, syscall.EINVAL
	}})
	if err == nil {
		t.Fatal("New: no error")
	}
}

func TestPollDetectsChanges(t *testing.T) {
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "edited"), "x")
	mustWrite(t, filepath.Join(root, "deleted"), "x")
	mustWrite(t, filepath.Join(root, "node_modules", "m"), "x")
	w := start(t, Options{Root: root, Poll: 50 * time.Millisecond})
	if n := w.Watches(); n != 0 {
		t.Errorf("Watches() = %d while polling, want 0", n)
	}
	begin := time.Now()
	mustWrite(t, filepath.Join(root, "edited"), "longer")
	if err := os.Remove(filepath.Join(root, "deleted")); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(root, "d", "created"), "x")
	mustWrite(t, filepath.Join(root, "node_modules", "m"), "changed")
	got := allPaths(collect(t, w, "edited", "deleted", "d/created"))
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("change seen after %v with a 50ms poll", took)
	}
	for _, p := range got {
		if strings.HasPrefix(p, "node_modules") {
			t.Errorf("ignored %q reported", p)
		}
	}
}

// With Hash, a poll sees an edit that keeps size and mtime.
func TestPollHash(t *testing.T) {
	for _, hash := range []bool{false, true} {
		root := t.TempDir()
		file := filepath.Join(root, "f")
		mustWrite(t, file, "aaaa")
		w, err := New(Options{Root: root, Poll: time.Hour, Hash: hash})
		if err != nil {
			t.Fatal(err)
		}
		info, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		mustWrite(t, file, "bbbb")
		if err := os.Chtimes(file, info.ModTime(), info.ModTime()); err != nil {
			t.Fatal(err)
		}
		var changed []string
		w.rescan("", &changed)
		if seen := slices.Equal(changed, []string{"f"}); seen != hash {
			t.Errorf("Hash=%v: poll found %v", hash, changed)
		}
	}
}

func TestChmodDoesNotCount(t *testing.T) {
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "script.sh"), "x")
	w := start(t, Options{Root: root})
	if err := os.Chmod(filepath.Join(root, "script.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(root, "sentinel"), "x")
	if got := allPaths(collect(t, w, "sentinel")); !slices.Equal(got, []string{"sentinel"}) {
		t.Errorf("paths = %v, want only the sentinel", got)
	}
}

// Finish sends what is pending before Batches closes: a change still
// waiting for quiet, and one the watcher has not been told of yet (the
// last rescan finds it), so a watcher replaced by another loses nothing.
func TestFinishSendsPending(t *testing.T) {
	for _, poll := range []time.Duration{0, time.Hour} {
		t.Run(map[bool]string{true: "poll", false: "notify"}[poll > 0], func(t *testing.T) {
			root := t.TempDir()
			mustWrite(t, filepath.Join(root, "a"), "x")
			w, err := New(Options{Root: root, Poll: poll, Quiet: time.Hour, MaxWait: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- w.Run(context.Background()) }()
			mustWrite(t, filepath.Join(root, "a"), "edited")
			mustWrite(t, filepath.Join(root, "d", "b"), "new")
			w.Finish()
			var got []string
			deadline := time.After(10 * time.Second)
			for open := true; open; {
				select {
				case b, ok := <-w.Batches():
					got = append(got, b.Paths...)
					open = ok
				case <-deadline:
					t.Fatalf("Batches not closed; got %v", got)
				}
			}
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
			slices.Sort(got)
			if want := []string{"a", "d/b"}; !slices.Equal(slices.Compact(got), want) {
				t.Errorf("paths = %v, want %v", got, want)
			}
		})
	}
}

// touch (a new mtime, nothing written) counts with inotify as it does when
// polling, so both modes agree.
func TestTouchCounts(t *testing.T) {
	for _, poll := range []time.Duration{0, 20 * time.Millisecond} {
		t.Run(map[bool]string{true: "poll", false: "notify"}[poll > 0], func(t *testing.T) {
			root := t.TempDir()
			file := filepath.Join(root, "a.js")
			mustWrite(t, file, "x")
			w := start(t, Options{Root: root, Poll: poll})
			later := time.Now().Add(time.Minute)
			if err := os.Chtimes(file, later, later); err != nil {
				t.Fatal(err)
			}
			collect(t, w, "a.js")
		})
	}
}

func TestRootRemovedWarns(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	mustWrite(t, filepath.Join(root, "f"), "x")
	var warns warnings
	w := start(t, Options{Root: root, Warn: warns.warn})
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	collect(t, w, "f")
	eventually(t, "a warning", func() bool {
		lines := warns.get()
		return len(lines) == 1 && strings.Contains(lines[0], "removed")
	})
}

// A root deleted and made again (rm -rf dist && build) is watched again:
// the files found in it count, and so do later edits, in both modes.
func TestRootRecreated(t *testing.T) {
	for _, poll := range []time.Duration{0, 20 * time.Millisecond} {
		t.Run(map[bool]string{true: "poll", false: "notify"}[poll > 0], func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "root")
			mustWrite(t, filepath.Join(root, "f"), "x")
			var warns warnings
			w := start(t, Options{Root: root, Poll: poll, Warn: warns.warn})
			if err := os.RemoveAll(root); err != nil {
				t.Fatal(err)
			}
			collect(t, w, "f")
			// Made aside and moved in, and made in place.
			aside := filepath.Join(filepath.Dir(root), "aside")
			mustWrite(t, filepath.Join(aside, "sub", "g"), "x")
			if err := os.Rename(aside, root); err != nil {
				t.Fatal(err)
			}
			collect(t, w, "sub/g")
			mustWrite(t, filepath.Join(root, "sub", "g"), "edited")
			mustWrite(t, filepath.Join(root, "h"), "new")
			collect(t, w, "sub/g", "h")

			// And again, the other way: removed, then made in place.
			if err := os.RemoveAll(root); err != nil {
				t.Fatal(err)
			}
			collect(t, w, "sub/g", "h")
			mustWrite(t, filepath.Join(root, "i"), "x")
			collect(t, w, "i")
			mustWrite(t, filepath.Join(root, "i"), "edited")
			collect(t, w, "i")
			if poll == 0 {
				eventually(t, "the root watched again", func() bool { return w.Watches() == 1 })
			}
		})
	}
}

// A symlink to a directory is followed, wherever it points (ln -s
// /tmp/sharedlib src/shared): its files count under the link's name, in
// both modes, and links that loop back are not followed twice.
func TestSymlinkedDirectories(t *testing.T) {
	for _, poll := range []time.Duration{0, 20 * time.Millisecond} {
		t.Run(map[bool]string{true: "poll", false: "notify"}[poll > 0], func(t *testing.T) {
			root := t.TempDir()
			outside := t.TempDir()
			mustWrite(t, filepath.Join(outside, "lib.js"), "x")
			mustWrite(t, filepath.Join(outside, "deep", "d.js"), "x")
			mustWrite(t, filepath.Join(root, "src", "app.js"), "x")
			mustWrite(t, filepath.Join(root, "lib", "l.js"), "x")
			symlink(t, outside, filepath.Join(root, "src", "shared"))
			// lib by two more names, one walked before it, one after.
			symlink(t, "lib", filepath.Join(root, "alib"))
			symlink(t, "../lib", filepath.Join(root, "src", "inside"))
			// Loops: to the root, to an ancestor, and two links into each other.
			symlink(t, "..", filepath.Join(root, "src", "up"))
			symlink(t, root, filepath.Join(outside, "back"))
			mustMkdir(t, filepath.Join(root, "a"))
			mustMkdir(t, filepath.Join(root, "b"))
			symlink(t, "../b", filepath.Join(root, "a", "tob"))
			symlink(t, "../a", filepath.Join(root, "b", "toa"))

			w := start(t, Options{Root: root, Poll: poll, Include: []string{"**/*.js"}})
			mustWrite(t, filepath.Join(outside, "lib.js"), "edited")
			mustWrite(t, filepath.Join(outside, "deep", "d.js"), "edited")
			mustWrite(t, filepath.Join(outside, "new", "n.js"), "new")
			collect(t, w, "src/shared/lib.js", "src/shared/deep/d.js", "src/shared/new/n.js")
			// The same directory by three names: an edit counts under each.
			mustWrite(t, filepath.Join(root, "lib", "l.js"), "edited")
			collect(t, w, "lib/l.js", "alib/l.js", "src/inside/l.js")

			// A link made while running is followed too; one removed is dropped.
			other := t.TempDir()
			mustWrite(t, filepath.Join(other, "o.js"), "x")
			symlink(t, other, filepath.Join(root, "src", "later"))
			collect(t, w, "src/later/o.js")
			mustWrite(t, filepath.Join(other, "o.js"), "edited")
			collect(t, w, "src/later/o.js")
			// Removing a link leaves the directory's other names watched
			// (inotify watched it once, under the first name walked).
			if err := os.Remove(filepath.Join(root, "alib")); err != nil {
				t.Fatal(err)
			}
			collect(t, w, "alib/l.js")
			mustWrite(t, filepath.Join(root, "lib", "l.js"), "again")
			collect(t, w, "lib/l.js", "src/inside/l.js")

			// Links that loop are not followed: a/tob/toa is a again.
			mustWrite(t, filepath.Join(root, "a", "x.js"), "x")
			for _, p := range allPaths(collect(t, w, "a/x.js", "b/toa/x.js")) {
				if strings.Contains(p, "up/") || strings.Contains(p, "back/") || strings.Contains(p, "tob/toa/") {
					t.Errorf("%s: a looping link was followed", p)
				}
			}
		})
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// renameAfterAdd is fsnotify with one twist: right after it watches the
// directory at, it renames from to to, as a tool that makes a directory
// tree and publishes it by rename can do between the watch and the read.
type renameAfterAdd struct {
	notifier
	at, from, to string
	done         bool
}

func (r *renameAfterAdd) Add(dir string) error {
	err := r.notifier.Add(dir)
	if dir == r.at && !r.done {
		r.done = true
		if err := os.Rename(r.from, r.to); err != nil {
			panic(err)
		}
	}
	return err
}

// A directory renamed between its watch and its read keeps nothing of its
// old name: its files under the new name are seen, later edits too. (The
// watch the read could not use stayed, under the old name, and the kernel
// hands the same watch back for the new name, so every event there came
// with the old name and was dropped.)
func TestDirRenamedBetweenWatchAndRead(t *testing.T) {
	root := t.TempDir()
	n := &renameAfterAdd{at: filepath.Join(root, "tmp", "a", "b"), from: filepath.Join(root, "tmp"), to: filepath.Join(root, "out")}
	w := start(t, Options{Root: root, newNotifier: func() (notifier, error) {
		fs, err := newFSNotifier()
		n.notifier = fs
		return n, err
	}})
	// Made outside and moved in, so that the rename cannot come between
	// the test's own mkdir and write.
	outside := t.TempDir()
	mustWrite(t, filepath.Join(outside, "tmp", "a", "b", "f"), "x")
	if err := os.Rename(filepath.Join(outside, "tmp"), filepath.Join(root, "tmp")); err != nil {
		t.Fatal(err)
	}
	collect(t, w, "out/a/b/f")
	mustWrite(t, filepath.Join(root, "out", "a", "b", "f"), "edited")
	mustWrite(t, filepath.Join(root, "out", "a", "b", "g"), "new")
	collect(t, w, "out/a/b/f", "out/a/b/g")
}

// A directory renamed over an empty one that is watched (rename(2) onto an
// empty directory, `mv -T`) is watched in its place: its files count, and
// so do later edits.
func TestDirRenamedOverAnEmptyOne(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "dst"), 0o755); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	mustWrite(t, filepath.Join(outside, "src", "f"), "x")
	w := start(t, Options{Root: root})
	// syscall's: os.Rename refuses an existing directory as the target.
	if err := syscall.Rename(filepath.Join(outside, "src"), filepath.Join(root, "dst")); err != nil {
		t.Fatal(err)
	}
	collect(t, w, "dst/f")
	mustWrite(t, filepath.Join(root, "dst", "f"), "edited")
	mustWrite(t, filepath.Join(root, "dst", "g"), "new")
	collect(t, w, "dst/f", "dst/g")
}

// sed -i, perl -pi and gio (gedit) save by writing a temp file beside the
// original and renaming it over: when the temp file's creation is taken in
// one round and its rename in the next, it must not show up, nor must a
// file that came and went. A real deletion of a file that was there counts.
// An empty directory made beside the temp file tells when the round with
// the creation was processed (its watch appears); the batch is sent by
// Finish, so nothing depends on timing.
func TestShortLivedFilesWithdrawn(t *testing.T) {
	for _, tc := range []struct {
		name string
		save func(t *testing.T, root string)
		want []string
	}{
		{"sed -i", func(t *testing.T, root string) {
			if err := os.Rename(filepath.Join(root, "src", "sedWDvccy"), filepath.Join(root, "src", "z.js")); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(root, "src", "old.js")); err != nil {
				t.Fatal(err)
			}
		}, []string{"src/old.js", "src/z.js"}},
		{"created and removed", func(t *testing.T, root string) {
			if err := os.Remove(filepath.Join(root, "src", "sedWDvccy")); err != nil {
				t.Fatal(err)
			}
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			mustWrite(t, filepath.Join(root, "src", "z.js"), "1\n")
			mustWrite(t, filepath.Join(root, "src", "old.js"), "1\n")
			w, err := New(Options{Root: root, Quiet: time.Hour, MaxWait: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- w.Run(context.Background()) }()

			mustWrite(t, filepath.Join(root, "src", "sedWDvccy"), "2\n")
			mustMkdir(t, filepath.Join(root, "src", "probe"))
			eventually(t, "the probe's watch", func() bool { return w.Watches() == 3 })
			tc.save(t, root)
			if err := os.Remove(filepath.Join(root, "src", "probe")); err != nil {
				t.Fatal(err)
			}
			w.Finish()
			var got []string
			for b := range w.Batches() {
				got = append(got, b.Paths...)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("batches held %v, want %v", got, tc.want)
			}
		})
	}
}
