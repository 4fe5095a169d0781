package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cluster-run/cluster/logmux"
)

// One save made while watchers are replaced (new settings), after the new
// ones read the tree and before the old ones finish, is seen by both: it
// reloads the type once. (It reloaded it twice.)
func TestReplaceWatchersReloadsOnce(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a.js", "b.js"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu       sync.Mutex
		reloaded []string
	)
	reload := fakeReloader(func(names ...string) {
		mu.Lock()
		defer mu.Unlock()
		reloaded = append(reloaded, names...)
	})
	count := func(name string) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, r := range reloaded {
			if r == name {
				n++
			}
		}
		return n
	}
	waitFor := func(name string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for count(name) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no reload of %s; reloads %v", name, slices.Clone(reloaded))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	mux := logmux.New(io.Discard, logmux.Options{})
	plan := func(ignore ...string) []watchGroup {
		return []watchGroup{{dir: dir, types: []watchedType{
			{name: "a", watch: []string{"a.js"}, ignore: ignore},
			{name: "b", watch: []string{"b.js"}},
		}}}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	old, err := startWatchers(ctx, plan(), reload, mux, nil)
	if err != nil {
		t.Fatal(err)
	}
	betweenWatchers = func() {
		if err := os.WriteFile(filepath.Join(dir, "a.js"), []byte("edited"), 0o644); err != nil {
			t.Error(err)
		}
	}
	defer func() { betweenWatchers = nil }()
	fresh := replaceWatchers(ctx, old, plan(), plan("gen"), reload, mux)
	defer fresh.stop()
	waitFor("a")
	// A later save of another file, as a marker: the new watcher reports
	// its a.js, if it does, no later than b.js.
	if err := os.WriteFile(filepath.Join(dir, "b.js"), []byte("edited"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor("b")
	if n := count("a"); n != 1 {
		t.Errorf("a reloaded %d times for one save, want 1", n)
	}
}

// fakeReloader records reloads; no type is stopped.
type fakeReloader func(names ...string)

func (f fakeReloader) Reload(names ...string) error          { f(names...); return nil }
func (f fakeReloader) StoppedTypes(names ...string) []string { return nil }
