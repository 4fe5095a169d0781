package watch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func runFiles(t *testing.T, f *Files) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		for range f.Batches() {
		}
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// nextBatch waits for a batch holding want, failing after a deadline.
func nextBatch(t *testing.T, f *Files, want string) Batch {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case b := <-f.Batches():
			if slices.Contains(b.Paths, want) {
				return b
			}
		case <-deadline:
			t.Fatalf("no batch with %s", want)
		}
	}
}

func TestFilesSeesWritesRenamesAndNewFiles(t *testing.T) {
	for _, poll := range []time.Duration{0, 20 * time.Millisecond} {
		t.Run(map[bool]string{true: "poll", false: "notify"}[poll > 0], func(t *testing.T) {
			dir := t.TempDir()
			cf := filepath.Join(dir, "Clusterfile")
			env := filepath.Join(dir, "sub", ".env")
			os.WriteFile(cf, []byte("a"), 0o644)
			os.Mkdir(filepath.Join(dir, "sub"), 0o755)
			f, err := NewFiles([]string{cf, env, cf}, poll, func(s string) { t.Log(s) })
			if err != nil {
				t.Fatal(err)
			}
			runFiles(t, f)

			// a write in place
			os.WriteFile(cf, []byte("ab"), 0o644)
			if b := nextBatch(t, f, cf); len(b.Paths) != 1 {
				t.Errorf("batch %v, want only the Clusterfile", b.Paths)
			}
			// an editor's save: temp file renamed over it
			tmp := filepath.Join(dir, ".Clusterfile.tmp")
			os.WriteFile(tmp, []byte("abc"), 0o644)
			os.Rename(tmp, cf)
			nextBatch(t, f, cf)
			// a file that did not exist appears in another directory
			os.WriteFile(env, []byte("A=1\n"), 0o644)
			nextBatch(t, f, env)
		})
	}
}

func TestFilesIgnoresOtherFiles(t *testing.T) {
	dir := t.TempDir()
	cf := filepath.Join(dir, "Clusterfile")
	os.WriteFile(cf, []byte("a"), 0o644)
	f, err := NewFiles([]string{cf}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	runFiles(t, f)
	for i := range 50 {
		os.WriteFile(filepath.Join(dir, "other"), []byte{byte(i)}, 0o644)
	}
	// Then the Clusterfile: the first batch must hold it and nothing else.
	os.WriteFile(cf, []byte("b"), 0o644)
	b := nextBatch(t, f, cf)
	if !slices.Equal(b.Paths, []string{cf}) {
		t.Errorf("batch %v, want [%s]", b.Paths, cf)
	}
}

// Out of inotify watches, the config watcher says so, naming the sysctl,
// not "no space left on device" (the same errno), and polls.
func TestFilesWatchLimitSaysSo(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("inotify's limit")
	}
	dir := t.TempDir()
	env := filepath.Join(dir, ".env")
	mustWrite(t, env, "A=1")
	saved := newFilesNotifier
	t.Cleanup(func() { newFilesNotifier = saved })
	newFilesNotifier = func() (notifier, error) {
		return newFake(func(int) error { return syscall.ENOSPC }), nil
	}
	var warns []string
	f, err := NewFiles([]string{env}, 0, func(s string) { warns = append(warns, s) })
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "fs.inotify.max_user_watches") || strings.Contains(warns[0], "no space left") {
		t.Fatalf("warnings %q, want one naming fs.inotify.max_user_watches", warns)
	}
	runFiles(t, f)
	mustWrite(t, env, "A=2")
	nextBatch(t, f, env)
}

// A symlinked env file (.env -> .env.development) changes when its target
// is edited, in this directory or another, and when it is pointed at
// another file, whose edits then count too; batches name the link.
func TestFilesFollowSymlinks(t *testing.T) {
	for _, poll := range []time.Duration{0, 50 * time.Millisecond} {
		t.Run(fmt.Sprintf("poll=%s", poll), func(t *testing.T) {
			dir, other := t.TempDir(), t.TempDir()
			env, dev, prod := filepath.Join(dir, ".env"), filepath.Join(dir, ".env.development"), filepath.Join(other, "prod.env")
			mustWrite(t, dev, "A=1")
			mustWrite(t, prod, "A=prod")
			if err := os.Symlink(".env.development", env); err != nil {
				t.Fatal(err)
			}
			f, err := NewFiles([]string{env}, poll, func(s string) { t.Log(s) })
			if err != nil {
				t.Fatal(err)
			}
			f.quiet = 20 * time.Millisecond
			runFiles(t, f)
			mustWrite(t, dev, "A=2") // through the link
			if b := nextBatch(t, f, env); !slices.Equal(b.Paths, []string{env}) {
				t.Errorf("batch %v, want the link only", b.Paths)
			}
			// ln -sf: a new link renamed over the old one.
			tmp := filepath.Join(dir, ".env.tmp")
			if err := os.Symlink(prod, tmp); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, env); err != nil {
				t.Fatal(err)
			}
			nextBatch(t, f, env)
			mustWrite(t, prod, "A=prod2") // the new target, in another directory
			nextBatch(t, f, env)
		})
	}
}
