package watch

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// newWithin runs New in the background and fails the test if it has not
// returned within d.
func newWithin(t *testing.T, d time.Duration, opts Options) *Watcher {
	t.Helper()
	type result struct {
		w   *Watcher
		err error
	}
	done := make(chan result, 1)
	go func() {
		w, err := New(opts)
		done <- result{w, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r.w
	case <-time.After(d):
		t.Fatalf("New has not returned after %v", d)
		return nil
	}
}

// Sibling directories that each link to all the others (ln -s ../pJ
// src/pI/pJ) are walked in polynomial time: a link met below a link that
// leads to a directory walked already is not walked again. (It was walked
// once per path through the links: 8 of them blocked start-up for minutes.)
func TestCrossLinkedDirectories(t *testing.T) {
	for _, poll := range []time.Duration{0, 20 * time.Millisecond} {
		t.Run(map[bool]string{true: "poll", false: "notify"}[poll > 0], func(t *testing.T) {
			root := t.TempDir()
			const k = 8
			for i := 1; i <= k; i++ {
				mustWrite(t, filepath.Join(root, "src", fmt.Sprintf("p%d", i), "f.js"), "x")
			}
			for i := 1; i <= k; i++ {
				for j := 1; j <= k; j++ {
					if i != j {
						symlink(t, fmt.Sprintf("../p%d", j), filepath.Join(root, "src", fmt.Sprintf("p%d", i), fmt.Sprintf("p%d", j)))
					}
				}
			}
			var warns warnings
			w := newWithin(t, 20*time.Second, Options{Root: root, Poll: poll, Warn: warns.warn})
			if n := len(w.tree); n > 4*k*k {
				t.Errorf("%d directories walked, want at most %d", n, 4*k*k)
			}
			runWatcher(t, w)
			mustWrite(t, filepath.Join(root, "src", "p3", "f.js"), "edited")
			collect(t, w, "src/p3/f.js")
		})
	}
}

// runWatcher runs w until the test ends.
func runWatcher(t *testing.T, w *Watcher) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- w.Run(t.Context()) }()
	t.Cleanup(func() {
		w.Finish()
		for range w.Batches() {
		}
		<-done
	})
}

// A link to a large tree outside the root (ln -s /usr src/usr) is followed
// only so far: past the cap, one warning names the link, and the rest is
// neither watched nor polled. (It was followed silently to its end.)
func TestLinkToLargeTreeIsCapped(t *testing.T) {
	for _, poll := range []time.Duration{0, 20 * time.Millisecond} {
		t.Run(map[bool]string{true: "poll", false: "notify"}[poll > 0], func(t *testing.T) {
			root := t.TempDir()
			outside := t.TempDir()
			for i := range 40 {
				mustMkdir(t, filepath.Join(outside, fmt.Sprintf("d%02d", i), "sub"))
			}
			mustWrite(t, filepath.Join(root, "src", "app.js"), "x")
			symlink(t, outside, filepath.Join(root, "src", "usr"))
			var warns warnings
			w := start(t, Options{Root: root, Poll: poll, Warn: warns.warn, linkCap: 10})
			if poll == 0 {
				if n := w.Watches(); n > 2+10 {
					t.Errorf("%d watches, want at most %d", n, 2+10)
				}
			}
			mustWrite(t, filepath.Join(root, "src", "app.js"), "edited")
			collect(t, w, "src/app.js")
			mustWrite(t, filepath.Join(root, "src", "app.js"), "again")
			collect(t, w, "src/app.js")
			var named int
			for _, l := range warns.get() {
				if strings.Contains(l, "src/usr") {
					named++
				}
			}
			if named != 1 {
				t.Errorf("warnings %q: want one naming src/usr", warns.get())
			}
		})
	}
}

// A link into a directory that an ignore prunes (watch_ignore =
// ["src/gen"], ln -s gen src/current) does not watch it again: an edit
// there counts under neither name. (The link watched it.)
func TestLinkIntoIgnoredDirectory(t *testing.T) {
	for _, poll := range []time.Duration{0, 20 * time.Millisecond} {
		t.Run(map[bool]string{true: "poll", false: "notify"}[poll > 0], func(t *testing.T) {
			root := t.TempDir()
			mustWrite(t, filepath.Join(root, "src", "gen", "out.js"), "x")
			mustWrite(t, filepath.Join(root, "src", "app.js"), "x")
			symlink(t, "gen", filepath.Join(root, "src", "current"))
			w := start(t, Options{Root: root, Poll: poll, Ignore: []string{"src/gen"}})
			mustWrite(t, filepath.Join(root, "src", "gen", "out.js"), "edited")
			// A change that does count comes after, as a marker: no batch
			// before it may hold the ignored file.
			mustWrite(t, filepath.Join(root, "src", "app.js"), "edited")
			for _, p := range allPaths(collect(t, w, "src/app.js")) {
				if strings.Contains(p, "out.js") {
					t.Errorf("%s counted: the link re-watched an ignored directory", p)
				}
			}
		})
	}
}

// A root removed while something holds it open (a worker's cwd), which
// keeps the kernel from sending the root's own removal, is noticed all the
// same, with the warning, and watched again once made anew, in both modes.
// (It was never watched again with inotify; polling did not warn.)
func TestRootRemovedWhileHeldOpen(t *testing.T) {
	for _, poll := range []time.Duration{0, 20 * time.Millisecond} {
		t.Run(map[bool]string{true: "poll", false: "notify"}[poll > 0], func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "root")
			mustWrite(t, filepath.Join(root, "f"), "x")
			held, err := os.Open(root)
			if err != nil {
				t.Fatal(err)
			}
			defer held.Close()
			var warns warnings
			w := start(t, Options{Root: root, Poll: poll, Warn: warns.warn})
			if err := os.RemoveAll(root); err != nil {
				t.Fatal(err)
			}
			collect(t, w, "f")
			eventually(t, "the removal warning", func() bool {
				lines := warns.get()
				return len(lines) == 1 && strings.Contains(lines[0], "removed")
			})
			mustWrite(t, filepath.Join(root, "g"), "x")
			collect(t, w, "g")
			mustWrite(t, filepath.Join(root, "g"), "edited")
			collect(t, w, "g")
		})
	}
}

// A watch glob with no wildcard matches the path and what is below it,
// whatever is on disk: "lib" counts lib/a.js even when lib is made after
// the watcher started.
func TestWatchEntryWithoutWildcard(t *testing.T) {
	for pattern, paths := range map[string]map[string]bool{
		"lib":          {"lib": true, "lib/a.js": true, "lib/sub/b.js": true, "library/a.js": false, "src/lib/a.js": false},
		"package.json": {"package.json": true, "package.json.bak": false},
		"lib/*.js":     {"lib/a.js": true, "lib/sub/b.js": false},
	} {
		for p, want := range paths {
			if got := MatchWatch(pattern, p); got != want {
				t.Errorf("MatchWatch(%q, %q) = %v, want %v", pattern, p, got, want)
			}
		}
	}
	root := t.TempDir()
	w := start(t, Options{Root: root, Include: []string{"lib"}})
	mustWrite(t, filepath.Join(root, "lib", "sub", "b.js"), "x")
	collect(t, w, "lib/sub/b.js")
}
