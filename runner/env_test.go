package runner

import (
	"testing"

	"github.com/cluster-run/cluster/procfile"
)

// envOf is worker index's value of key in the env ExecEnv gives process.
func envOf(t *testing.T, opts Options, process, key string) string {
	t.Helper()
	env, err := ExecEnv(opts, process)
	if err != nil {
		t.Fatal(err)
	}
	return envValue(env, key)
}

// A Procfile's release type takes no place in foreman's PORT scheme: it
// runs alone before the others, and web after it gets the base port, which
// Heroku-like platforms route to (before, web got base + 100). In a
// Clusterfile, release is an ordinary name and counts.
func TestReleaseTakesNoPortPlace(t *testing.T) {
	release, web, worker := shProc("release", "true"), shProc("web", "true"), shProc("worker", "true")
	cfg := config(release, web, worker)
	cfg.Format = procfile.FormatProcfile
	opts := Options{Config: cfg, PortBase: 8080}
	for name, want := range map[string]string{"release": "8080", "web": "8080", "worker": "8180"} {
		if got := envOf(t, opts, name, "PORT"); got != want {
			t.Errorf("Procfile: %s PORT=%s, want %s", name, got, want)
		}
	}
	cfg = config(web, release, worker)
	cfg.Format = procfile.FormatProcfile
	opts.Config = cfg
	for name, want := range map[string]string{"web": "8080", "release": "8180", "worker": "8180"} {
		if got := envOf(t, opts, name, "PORT"); got != want {
			t.Errorf("Procfile, release second: %s PORT=%s, want %s", name, got, want)
		}
	}
	cfg = config(release, web)
	cfg.Format = procfile.FormatClusterfile
	opts.Config = cfg
	if got := envOf(t, opts, "web", "PORT"); got != "8180" {
		t.Errorf("Clusterfile: web PORT=%s, want 8180", got)
	}
}
