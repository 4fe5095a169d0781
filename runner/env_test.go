package runner

import (
	"os"
	"os/user"
	"strings"
	"testing"

	"github.com/cluster-run/cluster/procfile"
)

// envOf is the value of key in the env ExecEnv gives process: its worker 1's.
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

// A PORT above 65535 is an error naming the worker, before anything starts
// (--port 65500 with three types handed out 65600 and 65700), and a scale
// that would need one is refused.
func TestPortAbove65535(t *testing.T) {
	a, b, c := shProc("a", "true"), shProc("b", "true"), shProc("c", "true")
	err := Preflight(Options{Config: config(a, b, c), PortBase: 65500})
	for _, want := range []string{
		"b.1 would get PORT 65600, above 65535 (foreman's: base 65500 + 100 × 1 + 0): give a lower --port or PORT",
		"c.1 would get PORT 65700",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Preflight: %v, want %q", err, want)
		}
	}
	if err := Preflight(Options{Config: config(a, b, c), PortBase: 65335}); err != nil {
		t.Errorf("c.1 gets 65535: %v", err)
	}

	own := shProc("own", "exec sleep 100")
	own.Env = append(own.Env, "PORT=65534")
	own.EnvFrom = map[string]procfile.EnvSource{"PORT": {Where: "Clusterfile:3: process.own.env.PORT", Own: true}}
	own.Workers = 3
	want := "own.3 would get PORT 65536, above 65535 (its own PORT 65534 + 2, from Clusterfile:3: process.own.env.PORT)"
	if err := Preflight(Options{Config: config(own)}); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("own PORT: %v, want %q", err, want)
	}
	own.Workers = 1
	rn := start(t, Options{Config: config(own)})
	if _, err := rn.r.Scale("own", 3); err == nil || !strings.Contains(err.Error(), "own=3: "+want) {
		t.Errorf("scale: %v, want %q", err, want)
	}
	if _, err := rn.r.Scale("own", 2); err != nil {
		t.Errorf("scale to 2 (65535): %v", err)
	}
}

// A worker that runs as another user gets that user's HOME, USER and
// LOGNAME, from its passwd entry, as su -, systemd's User= and docker's
// USER give them, unless the configuration sets them. Before, it kept the
// runner's (HOME=/root), and apps wrote their caches where they may not.
func TestUserEnv(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a worker as another user")
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	p := shProc("web", "true")
	p.User = "nobody"
	p.Env = []string{"HOME=/root", "USER=root", "LOGNAME=root", "PATH=/usr/bin:/bin"}
	opts := Options{Config: config(p)}
	for k, want := range map[string]string{"HOME": u.HomeDir, "USER": "nobody", "LOGNAME": "nobody"} {
		if got := envOf(t, opts, "web", k); got != want {
			t.Errorf("%s=%s, want %s", k, got, want)
		}
	}
	// Set by the configuration: kept.
	p.Env = []string{"HOME=/srv/app", "USER=root", "LOGNAME=root", "PATH=/usr/bin:/bin"}
	p.EnvFrom = map[string]procfile.EnvSource{"HOME": {Where: "Clusterfile:4: process.web.env.HOME", Own: true}}
	if got := envOf(t, opts, "web", "HOME"); got != "/srv/app" {
		t.Errorf("HOME=%s set by the type's env, want it kept", got)
	}
	if got := envOf(t, opts, "web", "USER"); got != "nobody" {
		t.Errorf("USER=%s, want nobody", got)
	}
	// No user: the runner's own.
	p.User = ""
	if got := envOf(t, opts, "web", "USER"); got != "root" {
		t.Errorf("without user: USER=%s, want the runner's", got)
	}
}

// -w all=N counts every type the -w does not name (foreman's -m all=N),
// and an unknown name lists the types as "a, b" (it printed "[a b]").
func TestWorkersAll(t *testing.T) {
	a, b, web := shProc("a", "true"), shProc("b", "true"), shProc("web", "true")
	opts := Options{Config: config(a, b, web), Workers: map[string]int{"all": 2, "web": 3}}
	for name, want := range map[string]string{"a": "2", "b": "2", "web": "3"} {
		if got := envOf(t, opts, name, "CLUSTER_WORKERS"); got != want {
			t.Errorf("%s: CLUSTER_WORKERS=%s, want %s", name, got, want)
		}
	}
	if err := Preflight(opts); err != nil {
		t.Errorf("-w all=2,web=3: %v", err)
	}
	opts.Workers = map[string]int{"nope": 1}
	if err := Preflight(opts); err == nil || err.Error() != `-w: unknown process type "nope" (have a, b, web)` {
		t.Errorf("-w nope=1: %v", err)
	}
}
