package procfile

import (
	"errors"
	"maps"
	"slices"
	"testing"
)

// TestLoadErrorPartial: a file with errors still gives what did load, and
// names the types whose command, dir, env or user had an error (Broken),
// so the pre-flight can check the others and report all at once.
func TestLoadErrorPartial(t *testing.T) {
	cases := []struct {
		name   string
		files  []string
		procs  []string
		broken []string
	}{
		{"errors in keys the pre-flight does not read", []string{"Clusterfile",
			"[process.web]\ncommand = \"nosuchprog --x\"\nstop_timeout = 10\n[process.api]\ncommand = \"sleep 1\"\nrestart = \"sometimes\"\n"},
			[]string{"web", "api"}, nil},
		{"a bad command, dir, env, user or PORT", []string{"Clusterfile",
			"[process.a]\ncommand = \"x 'y\"\n" +
				"[process.b]\ncommand = \"sleep 1\"\ndir = \"nosuchdir\"\n" +
				"[process.c]\ncommand = \"sleep 1\"\nenv_file = \"nosuch.env\"\n" +
				"[process.d]\ncommand = \"sleep 1\"\nuser = \"\"\n" +
				"[process.e]\ncommand = \"sleep 1\"\nenv = { PORT = \"x\" }\n" +
				"[process.f]\ncommand = \"sleep 1\"\n"},
			[]string{"a", "b", "c", "d", "e", "f"}, []string{"a", "b", "c", "d", "e"}},
		{"a bad tty or workers leaves the type checked, a bad shell does not", []string{"Clusterfile",
			"[process.a]\ncommand = \"sleep 1\"\ntty = \"x\"\n" +
				"[process.b]\ncommand = \"sleep 1\"\nworkers = \"x\"\n" +
				"[process.c]\ncommand = \"sleep 1\"\nworkers = -1\n" +
				"[process.d]\ncommand = \"sleep 1\"\nshell = \"x\"\n"},
			[]string{"a", "b", "c", "d"}, []string{"d"}},
		{"a bad top-level env_file breaks every type", []string{"Clusterfile",
			"env_file = \"nosuch.env\"\n[process.a]\ncommand = \"sleep 1\"\n"},
			[]string{"a"}, []string{"a"}},
		{"Procfile", []string{"Procfile", "web: sleep 1\nbad line\nq: x 'y\n"},
			[]string{"web", "q"}, []string{"q"}},
		{"a bad line in .env breaks every type, and the file is still read", []string{"Procfile",
			"web: sleep 1\napi: sleep 1\nbad line\n", ".env", "X=1\nbad env\n"},
			[]string{"web", "api"}, []string{"api", "web"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := loadIn(t, []string{"PATH=/usr/bin:/bin"}, 2, c.files...)
			var le *LoadError
			if cfg != nil || !errors.As(err, &le) || le.Config == nil {
				t.Fatalf("got %v, %v; want a *LoadError with a partial config", cfg, err)
			}
			var procs []string
			for _, p := range le.Config.Processes {
				procs = append(procs, p.Name)
			}
			if !slices.Equal(procs, c.procs) {
				t.Errorf("loaded %v, want %v", procs, c.procs)
			}
			if got := slices.Sorted(maps.Keys(le.Broken)); !slices.Equal(got, c.broken) {
				t.Errorf("broken %v, want %v (%v)", got, c.broken, err)
			}
		})
	}
}
