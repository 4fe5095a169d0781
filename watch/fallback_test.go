package watch

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/fsnotify/fsnotify"
)

// An Add that fails for a directory that is still there, for another
// reason than a limit, is tried once more; if it fails again the watcher
// warns once, naming the directory, and polls: it used to leave the
// directory unwatched without a word. kqueue's Add opens every file in the
// directory, so a file deleted mid-walk fails it once, and a symlink loop
// or a link to a socket fails it every time. A directory that is gone, or
// that may not be read, is left unwatched as before: reading it fails the
// same way.
func TestAddErrorRetriedThenPolled(t *testing.T) {
	cases := []struct {
		name     string
		fails    int   // how many Adds of "a" fail
		err      error // with what
		remove   bool  // "a" is gone when Add fails
		warn     bool  // a warning naming "a" and polling
		watchedA bool
	}{
		{"fails once", 1, fmt.Errorf(`"a/f": lstat a/f: %w`, syscall.ENOENT), false, false, true},
		{"fails for good", 1 << 30, fmt.Errorf(`"a/loop": %w`, syscall.ELOOP), false, true, false},
		{"permission", 1 << 30, syscall.EACCES, false, false, false},
		{"gone", 1 << 30, syscall.ENOENT, true, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			a := filepath.Join(root, "a")
			mustWrite(t, filepath.Join(a, "f"), "x")
			mustWrite(t, filepath.Join(root, "b", "f"), "x")
			fails := c.fails
			fake := newFake(nil)
			fake.dirErr = func(dir string) error {
				if dir != a || fails == 0 {
					return nil
				}
				fails--
				if c.remove {
					os.RemoveAll(a)
				}
				return c.err
			}
			var warns warnings
			w := start(t, Options{Root: root, Warn: warns.warn, newNotifier: func() (notifier, error) { return fake, nil }})
			lines := warns.get()
			if !c.warn {
				if len(lines) != 0 {
					t.Fatalf("warnings %q, want none", lines)
				}
				fake.mu.Lock()
				watched := fake.dirs[a]
				fake.mu.Unlock()
				if watched != c.watchedA {
					t.Errorf("a watched: %v, want %v", watched, c.watchedA)
				}
				return
			}
			if len(lines) != 1 || !strings.Contains(lines[0], "cannot watch "+a+": ") || !strings.Contains(lines[0], "polling every 1s instead") {
				t.Fatalf("warnings %q, want one naming %s and polling", lines, a)
			}
			if n := w.Watches(); n != 0 {
				t.Errorf("Watches() = %d while polling, want 0", n)
			}
			mustWrite(t, filepath.Join(a, "f"), "edited")
			collect(t, w, "a/f") // found by polling: the fake sends no events
			if n := len(warns.get()); n != 1 {
				t.Errorf("%d warnings, want 1", n)
			}
		})
	}
}

// With kqueue every file created in a watched directory after the walk
// takes a descriptor too (and fsnotify drops the errors of those opens):
// a tree that grows past the budget while running is polled from then on,
// with the budget's warning, as one that was too big at the walk.
func TestDescriptorBudgetGrowthFallsBackToPolling(t *testing.T) {
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "a", "1"), "x")
	var warns warnings
	fake := newFake(nil)
	// root: itself and a; a: itself and 1.
	w := start(t, Options{Root: root, Warn: warns.warn, budget: 6, newNotifier: func() (notifier, error) { return fake, nil }})
	if lines := warns.get(); len(lines) != 0 {
		t.Fatalf("warnings at start: %q", lines)
	}
	for _, f := range []string{"2", "3", "4"} {
		mustWrite(t, filepath.Join(root, "a", f), "x")
	}
	// One event is enough: its directory is counted again as a whole (a
	// fake that went on sending after the fallback would send on a closed
	// channel).
	fake.sendEvent(t, fsnotify.Event{Name: filepath.Join(root, "a", "4"), Op: fsnotify.Create})
	collect(t, w, "a/2", "a/3", "a/4") // a/2 and a/3 found by the first poll
	eventually(t, "the budget's warning", func() bool { return len(warns.get()) == 1 })
	if lines := warns.get(); !strings.Contains(lines[0], "more than 6 files and directories") || !strings.Contains(lines[0], "polling every 1s") {
		t.Fatalf("warnings = %q, want the budget's", lines)
	}
	eventually(t, "no watches", func() bool { return w.Watches() == 0 })
	mustWrite(t, filepath.Join(root, "a", "4"), "edited")
	collect(t, w, "a/4") // found by polling: the fake sends no events
}

// fsnotify reports on its Errors channel that it ran out of descriptors
// (watching a new file): that is a limit hit, as at Add, and the watcher
// polls instead of going on with files it cannot see.
func TestNotifierOutOfDescriptorsFallsBackToPolling(t *testing.T) {
	root := t.TempDir()
	var warns warnings
	fake := newFake(nil)
	w := start(t, Options{Root: root, Warn: warns.warn, newNotifier: func() (notifier, error) { return fake, nil }})
	fake.sendErr(t, fmt.Errorf(`fsnotify.dirChange: "%s/new": %w`, root, syscall.EMFILE))
	eventually(t, "one warning", func() bool { return len(warns.get()) == 1 })
	if lines := warns.get(); !strings.Contains(lines[0], "polling every 1s") {
		t.Fatalf("warnings = %q, want one saying it polls", lines)
	}
	eventually(t, "no watches", func() bool { return w.Watches() == 0 })
	mustWrite(t, filepath.Join(root, "new"), "x")
	collect(t, w, "new") // found by polling: the fake sends no events
}
