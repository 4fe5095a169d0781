package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cluster-run/cluster/logmux"
	"github.com/cluster-run/cluster/procfile"
	"github.com/cluster-run/cluster/watch"
)

// A type's watch_ignore holds for the directories above a path too, as the
// watcher's own pruning does: "dist" ignores dist/b.js.
func TestMatchesIgnoresDirectories(t *testing.T) {
	p := watchedType{watch: []string{"**/*.js"}, ignore: []string{"dist", "gen/**", "**/*.test.js"}}
	for path, want := range map[string]bool{
		"src/a.js":       true,
		"dist/b.js":      false,
		"dist/sub/c.js":  false,
		"distant/b.js":   true,
		"gen/x.js":       false,
		"src/gen/x.js":   true,
		"src/a.test.js":  false,
		"src/a.css":      false,
		"sub/dist/b.js":  true,
		"./dist/deep.js": false,
	} {
		if got := matches("", p, []string{path}); got != want {
			t.Errorf("matches(%q) = %v, want %v", path, got, want)
		}
	}
}

// A type's watch_ignore holds for a path reached through a symlink into
// what it ignores (watch_ignore = ["src/gen"], ln -s gen src/current): the
// path counts by where it leads too.
func TestMatchesIgnoresThroughLinks(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"src/gen", "src/lib"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"src/current": "gen", "src/other": "lib"} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	p := watchedType{watch: []string{"src/**"}, ignore: []string{"src/gen"}}
	for path, want := range map[string]bool{
		"src/current/out.js": false,
		"src/gen/out.js":     false,
		"src/other/l.js":     true,
		"src/app.js":         true,
	} {
		if got := matches(dir, p, []string{path}); got != want {
			t.Errorf("matches(%q) = %v, want %v", path, got, want)
		}
	}
}

// The plan holds what the code watchers depend on and nothing else: a new
// type without watch or a changed command keeps them; a changed glob, or
// a type's new watch, replaces them.
func TestWatchPlan(t *testing.T) {
	dir := t.TempDir()
	load := func(body string) []watchGroup {
		t.Helper()
		path := filepath.Join(dir, "Clusterfile")
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := procfile.LoadWith(path, []string{"PATH=/usr/bin:/bin"}, 1)
		if err != nil {
			t.Fatal(err)
		}
		return watchPlan(cfg, nil, nil)
	}
	base := load("[process.web]\ncommand = \"sleep 1\"\nwatch = [\"src/**\"]\n")
	for _, c := range []struct {
		file string
		same bool
	}{
		{"[process.web]\ncommand = \"sleep 2\"\nwatch = [\"src/**\"]\n", true},
		{"[process.web]\ncommand = \"sleep 1\"\nwatch = [\"src/**\"]\n[process.mail]\ncommand = \"sleep 1\"\n", true},
		{"[process.web]\ncommand = \"sleep 1\"\nwatch = [\"src/**\"]\nworkers = 3\n", true},
		{"[process.web]\ncommand = \"sleep 1\"\nwatch = [\"lib/**\"]\n", false},
		{"[process.web]\ncommand = \"sleep 1\"\nwatch = [\"src/**\"]\nwatch_ignore = [\"x\"]\n", false},
		{"[process.web]\ncommand = \"sleep 1\"\nwatch = [\"src/**\"]\nwatch_poll = \"1s\"\n", false},
		{"[process.web]\ncommand = \"sleep 1\"\nwatch = [\"src/**\"]\n[process.mail]\ncommand = \"sleep 1\"\nwatch = [\"*.ok\"]\n", false},
	} {
		if same := reflect.DeepEqual(base, load(c.file)); same != c.same {
			t.Errorf("same plan = %v, want %v, for\n%s", same, c.same, c.file)
		}
	}
	if want := []string{".env", "Clusterfile"}; len(base) != 1 || !slices.Equal(base[0].config, want) {
		t.Errorf("plan %+v: want one group leaving out %q", base, want)
	}
}

// The config files are left out of a code watcher by globs that match them
// alone, also where a linked one points, and only when they are below its dir.
func TestConfigGlobs(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink(".env.development", filepath.Join(dir, ".env")); err != nil {
		t.Fatal(err)
	}
	paths := []string{filepath.Join(dir, ".env"), filepath.Join(dir, "a[1]*.env"), filepath.Join(dir, "Clusterfile"), "/elsewhere/x.env"}
	got := configGlobs(dir, paths)
	want := []string{".env", ".env.development", `a\[1]\*.env`, "Clusterfile"}
	if !slices.Equal(got, want) {
		t.Errorf("configGlobs = %q, want %q", got, want)
	}
	if !watch.Match(got[2], "a[1]*.env") || watch.Match(got[2], "a1x.env") {
		t.Errorf("%q does not match its file alone", got[2])
	}
	if got := configGlobs(filepath.Join(dir, "sub"), paths); len(got) != 0 {
		t.Errorf("configGlobs below sub = %q, want none", got)
	}
}

// A Procfile's .env is watched unless -e replaces it; a Clusterfile's always.
func TestConfigPathsLeaveOutReplacedDotenv(t *testing.T) {
	proc := &procfile.Config{Path: "/app/Procfile", Dir: "/app", Format: procfile.FormatProcfile, EnvFiles: []string{"/x/local.env"}}
	if got, want := configPaths(proc, []string{"/x/local.env"}), []string{"/app/Procfile", "/x/local.env"}; !slices.Equal(got, want) {
		t.Errorf("Procfile with -e: %q, want %q", got, want)
	}
	proc.EnvFiles = []string{".env"}
	if got, want := configPaths(proc, nil), []string{"/app/.env", "/app/Procfile"}; !slices.Equal(got, want) {
		t.Errorf("Procfile: %q, want %q", got, want)
	}
	cf := &procfile.Config{Path: "/app/Clusterfile", Dir: "/app", Format: procfile.FormatClusterfile}
	if got, want := configPaths(cf, []string{"/x/local.env"}), []string{"/app/.env", "/app/Clusterfile", "/x/local.env"}; !slices.Equal(got, want) {
		t.Errorf("Clusterfile with -e: %q, want %q", got, want)
	}
}

// stubReloader records reloads; the types in stopped are stopped.
type stubReloader struct {
	reloaded [][]string
	stopped  []string
}

func (s *stubReloader) Reload(names ...string) error {
	s.reloaded = append(s.reloaded, names)
	return nil
}

func (s *stubReloader) StoppedTypes(names ...string) []string {
	var out []string
	for _, n := range names {
		if slices.Contains(s.stopped, n) {
			out = append(out, n)
		}
	}
	return out
}

// A batch reloads the types its paths match. A rescan after an event queue
// overflow is compared with the snapshot: when it found nothing a type
// watches, nothing reloads. A stopped type is named, not reloaded.
func TestReloadBatch(t *testing.T) {
	g := watchGroup{dir: t.TempDir(), types: []watchedType{
		{name: "web", watch: []string{"src/**/*.js"}},
		{name: "css", watch: []string{"**/*.css"}},
	}}
	for _, tc := range []struct {
		name    string
		b       watch.Batch
		stopped []string
		want    [][]string
		line    string
	}{
		{"overflow, nothing changed", watch.Batch{Rescan: true}, nil, nil,
			"event queue overflowed; rescanned: no watched file changed"},
		{"overflow, unwatched files", watch.Batch{Rescan: true, Paths: []string{"notes.txt"}}, nil, nil,
			"event queue overflowed; rescanned: no watched file changed"},
		{"overflow, a watched file", watch.Batch{Rescan: true, Paths: []string{"src/a.js"}}, nil, [][]string{{"web"}},
			"src/a.js changed: reloading [web]"},
		{"edit", watch.Batch{Paths: []string{"a.css", "src/a.js"}}, nil, [][]string{{"web", "css"}},
			"a.css and 1 more changed: reloading [web css]"},
		{"unwatched", watch.Batch{Paths: []string{"notes.txt"}}, nil, nil, ""},
		{"stopped", watch.Batch{Paths: []string{"src/x.js"}}, []string{"web"}, nil,
			"src/x.js changed: web is stopped, not reloading"},
		{"one stopped", watch.Batch{Paths: []string{"a.css", "src/x.js"}}, []string{"web"}, [][]string{{"css"}},
			"a.css and 1 more changed: reloading [css]; web is stopped, not reloading"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			mux := logmux.New(&out, logmux.Options{})
			r := &stubReloader{stopped: tc.stopped}
			reloadBatch(g, tc.b, r, mux)
			if !reflect.DeepEqual(r.reloaded, tc.want) {
				t.Errorf("reloaded %v, want %v", r.reloaded, tc.want)
			}
			got := strings.TrimSpace(out.String())
			if tc.line == "" && got != "" || !strings.HasSuffix(got, tc.line) || strings.Count(got, "\n") > 0 {
				t.Errorf("printed %q, want one line ending %q", got, tc.line)
			}
		})
	}
}
