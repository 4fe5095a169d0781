package procfile

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// $PORT in the command of an inherit-mode type, as the command's own split
// or sh would expand it, is an error naming the key; proxy mode and a type
// without listen may use it.
func TestPortInInheritMode(t *testing.T) {
	for _, tt := range []struct {
		name, body, want string
	}{
		{"inherit $PORT", "[process.web]\nlisten = \":8080\"\ncommand = \"app --port $PORT\"\n", `Clusterfile:3: process.web.command: uses $PORT, but in inherit mode the shared socket is fd 3`},
		{"inherit ${PORT}", "[process.web]\nlisten = \":8080\"\ncommand = \"app --port ${PORT}\"\n", "uses $PORT"},
		{"inherit ${PORT:-}", "[process.web]\nlisten = \":8080\"\ncommand = \"app --port ${PORT:-80}\"\n", "uses $PORT"},
		{"inherit $PORTS", "[process.web]\nlisten = \":8080\"\ncommand = \"app $PORTS\"\n", ""},
		{"inherit in a default", "[process.web]\nlisten = \":8080\"\ncommand = \"app ${NOPE:-$PORT}\"\n", "uses $PORT"},
		{"inherit '$PORT'", "[process.web]\nlisten = \":8080\"\ncommand = \"app --help-text '$PORT'\"\n", ""},
		{"inherit \\$PORT", "[process.web]\nlisten = \":8080\"\ncommand = 'app --help-text \\$PORT'\n", ""},
		{"proxy", "[process.web]\nlisten = \":8080\"\nsocket = \"proxy\"\ncommand = \"app --port $PORT\"\n", ""},
		{"no listen", "[process.web]\ncommand = \"app --port $PORT\"\n", ""},

		// With shell = true, what sh would expand.
		{"shell $PORT", "[process.web]\nlisten = \":8080\"\nshell = true\ncommand = \"cd app && exec app --port $PORT\"\n", `Clusterfile:4: process.web.command: uses $PORT, but in inherit mode the shared socket is fd 3`},
		{"shell ${PORT:-}", "[process.web]\nlisten = \":8080\"\nshell = true\ncommand = \"app --port ${PORT:-80}\"\n", "uses $PORT"},
		{"shell ${#PORT}", "[process.web]\nlisten = \":8080\"\nshell = true\ncommand = \"echo ${#PORT}\"\n", "uses $PORT"},
		{"shell in double quotes", "[process.web]\nlisten = \":8080\"\nshell = true\ncommand = 'app \"--port=$PORT\"'\n", "uses $PORT"},
		{"shell in a default", "[process.web]\nlisten = \":8080\"\nshell = true\ncommand = \"app ${NOPE:-$PORT}\"\n", "uses $PORT"},
		{"shell '' in double quotes", "[process.web]\nlisten = \":8080\"\nshell = true\ncommand = \"app \\\"${NOPE:-'$PORT'}\\\"\"\n", "uses $PORT"},
		{"shell after \\\\", "[process.web]\nlisten = \":8080\"\nshell = true\ncommand = 'app \\\\$PORT'\n", "uses $PORT"},
		{"shell after a #", "[process.web]\nlisten = \":8080\"\nshell = true\ncommand = \"app a#$PORT\"\n", "uses $PORT"},
		{"shell '$PORT'", "[process.web]\nlisten = \":8080\"\nshell = true\ncommand = \"echo '$PORT' && app\"\n", ""},
		{"shell \\$PORT", "[process.web]\nlisten = \":8080\"\nshell = true\ncommand = 'echo \\$PORT \"\\$PORT\" && app'\n", ""},
		{"shell $PORTS and $$", "[process.web]\nlisten = \":8080\"\nshell = true\ncommand = \"echo $PORTS $$PORT ${PORTS:-1} && app\"\n", ""},
		{"shell quotes in $(...)", "[process.web]\nlisten = \":8080\"\nshell = true\ncommand = \"echo \\\"$(echo '$PORT')\\\" `echo '$PORT'` && app\"\n", ""},
		{"shell comment", "[process.web]\nlisten = \":8080\"\nshell = true\ncommand = \"app # not $PORT: fd 3\"\n", ""},
		{"shell proxy", "[process.web]\nlisten = \":8080\"\nsocket = \"proxy\"\nshell = true\ncommand = \"app --port $PORT\"\n", ""},
		{"shell no listen", "[process.web]\nshell = true\ncommand = \"app --port $PORT\"\n", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, "Clusterfile", tt.body)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// A type without listen defaults to "started, once PORT accepts or after a
// grace"; an explicit ready kind or listen turns that off.
func TestReadyPortOrStarted(t *testing.T) {
	cfg, err := load(t, "Clusterfile", `
[process.a]
command = "app"
[process.b]
command = "app"
ready = { timeout = "5s" }
[process.c]
command = "app"
ready = { delay = "1s" }
[process.d]
command = "app"
listen = ":8080"
`)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, true, false, false} {
		if got := cfg.Processes[i].Ready.PortOrStarted; got != want {
			t.Errorf("%s: PortOrStarted %v, want %v", cfg.Processes[i].Name, got, want)
		}
	}
	cfg, err = load(t, "Procfile", "web: app\n")
	if err != nil || !cfg.Processes[0].Ready.PortOrStarted {
		t.Errorf("Procfile: %v, %+v", err, cfg)
	}
}

// -e files come after env_file and before [env], later ones winning; for a
// Procfile they replace .env, as foreman's -e does (.env's A is not read).
func TestLoadEnvFiles(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, ".env", "A=dotenv\nB=dotenv\n")
	write(t, dir, "one.env", "B=one\nC=one\n")
	write(t, dir, "two.env", "C=two\n")
	write(t, dir, "base.env", "X=base\nY=base\n")
	proc := write(t, dir, "Procfile", "web: app\n")
	cfg, err := loadWith(proc, nil, 1, []string{"one.env", filepath.Join(dir, "two.env")})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Processes[0].Env, " "); got != "B=one C=two" {
		t.Errorf("Procfile env with -e %q, want .env left out", got)
	}
	if cfg.EnvFiles[0] != "one.env" {
		t.Errorf("Procfile env files with -e %q", cfg.EnvFiles)
	}
	cfg, err = loadWith(proc, nil, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Processes[0].Env, " "); got != "A=dotenv B=dotenv" {
		t.Errorf("Procfile env without -e %q", got)
	}
	cf := write(t, dir, "Clusterfile", "env_file = [\"base.env\"]\n[env]\nZ = \"table\"\n[process.web]\ncommand = \"app\"\n")
	write(t, dir, "over.env", "Y=over\nZ=over\n")
	cfg, err = loadWith(cf, nil, 1, []string{"over.env"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Env, " "); got != "X=base Y=over Z=table" {
		t.Errorf("Clusterfile env %q", got)
	}
	// A -e file that cannot be read is the flag's error, not a line's:
	// EnvFlagError, which main prints as "cluster: -e: ...". A bad line
	// in one is the file's, with its line.
	var flagErr *EnvFlagError
	for _, path := range []string{proc, cf} {
		_, err := loadWith(path, nil, 1, []string{"missing.env"})
		if want := "-e: env file missing.env does not exist"; err == nil || err.Error() != want || !errors.As(err, &flagErr) {
			t.Errorf("%s, missing -e file: %v, want %q as an EnvFlagError", path, err, want)
		}
	}
	if _, err := loadWith(proc, nil, 1, []string{dir}); err == nil || !errors.As(err, &flagErr) || !strings.HasSuffix(err.Error(), ": not a regular file (a directory)") {
		t.Errorf("-e DIR: %v", err)
	}
	write(t, dir, "bad.env", "A=1\nbad line\n")
	if _, err := loadWith(proc, nil, 1, []string{"bad.env"}); err == nil || errors.As(err, &flagErr) || !strings.HasPrefix(err.Error(), "bad.env:2: ") {
		t.Errorf("-e with a bad line: %v", err)
	}
}

// ${VAR} in a dotenv file sees the env merged so far: the OS env, then the
// files read before it (and [env], for a process's own env_file), as the
// dotenv tools chain files. Before, it saw only its own lines and the OS
// env, so DATABASE_URL lost its host.
func TestDotenvExpandsFromEarlierFiles(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, ".env", "DB_HOST=db.local\n")
	write(t, dir, ".env.local", "DATABASE_URL=postgres://${DB_HOST}/app\nUSER_AT=$WHO@$DB_HOST\n")
	write(t, dir, "web.env", "URL=http://$API_HOST:${API_PORT:-80}/\n")
	proc := write(t, dir, "Procfile", "web: app\n")
	cfg, err := loadWith(proc, []string{"WHO=me"}, 1, []string{".env", ".env.local"})
	if err != nil {
		t.Fatal(err)
	}
	want := "DATABASE_URL=postgres://db.local/app DB_HOST=db.local USER_AT=me@db.local WHO=me"
	if got := strings.Join(cfg.Processes[0].Env, " "); got != want {
		t.Errorf("Procfile -e .env,.env.local: %q, want %q", got, want)
	}
	cf := write(t, dir, "Clusterfile", `env_file = [".env", ".env.local"]
[env]
API_HOST = "api.local"
[process.web]
command = "app"
env_file = "web.env"
`)
	cfg, err = loadWith(cf, nil, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Env, " "); !strings.Contains(got, "DATABASE_URL=postgres://db.local/app ") {
		t.Errorf("Clusterfile env_file chain: %q", got)
	}
	if got := strings.Join(cfg.Processes[0].Env, " "); !strings.Contains(got, "URL=http://api.local:80/") {
		t.Errorf("a process's env_file sees [env]: %q", got)
	}
}

// A PORT that a type's own env or env_file sets is its own (OwnPort), with
// where it was set; [env], a top-level env_file and the OS env set the base
// of foreman's numbering, as before. A bad own PORT is an error naming it.
func TestOwnPort(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "web.env", "# web's\nPORT=9100\n")
	write(t, dir, "base.env", "PORT=7000\n")
	cf := write(t, dir, "Clusterfile", `env_file = "base.env"
[env]
A = "1"
[process.web]
command = "app"
env = { PORT = "9000" }
[process.api]
command = "app"
env_file = "web.env"
[process.queue]
command = "app"
[process.proxied]
command = "app"
listen = ":8080"
socket = "proxy"
env = { PORT = "9200" }
`)
	cfg, err := loadWith(cf, []string{"PORT=6000"}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		port  int
		ok    bool
		where string
	}{{9000, true, "Clusterfile:6: process.web.env.PORT"}, {9100, true, "web.env:2: PORT"}, {0, false, "base.env:1: PORT"}, {0, false, "Clusterfile:16: process.proxied.env.PORT"}} {
		p := cfg.Processes[i]
		port, ok := p.OwnPort()
		if port != want.port || ok != want.ok || p.EnvFrom["PORT"].Where != want.where {
			t.Errorf("%s: OwnPort %d, %v from %q; want %d, %v from %q", p.Name, port, ok, p.EnvFrom["PORT"].Where, want.port, want.ok, want.where)
		}
	}
	if src := cfg.EnvFrom["PORT"]; src.Where != "base.env:1: PORT" || src.Own {
		t.Errorf("the cluster's PORT from %+v", src)
	}
	if _, ok := cfg.EnvFrom["HOME"]; ok {
		t.Errorf("HOME from the OS env has a source: %+v", cfg.EnvFrom["HOME"])
	}

	write(t, dir, "Clusterfile", "[process.web]\ncommand = \"app\"\nenv = { PORT = \"\" }\n")
	if cfg, err := loadWith(cf, nil, 1, nil); err != nil {
		t.Errorf("an empty own PORT: %v", err)
	} else if _, ok := cfg.Processes[0].OwnPort(); ok {
		t.Errorf("an empty own PORT is its own")
	}

	write(t, dir, "bad.env", "PORT=70000\n")
	for body, want := range map[string]string{
		"[process.web]\ncommand = \"app\"\nenv = { PORT = \"abc\" }\n":    `Clusterfile:3: process.web.env.PORT: "abc" is not a port (want 1-65535)`,
		"[process.web]\ncommand = \"app\"\n[process.web.env]\nPORT = 0\n": `Clusterfile:4: process.web.env.PORT: "0" is not a port (want 1-65535)`,
		"[process.web]\ncommand = \"app\"\nenv_file = \"bad.env\"\n":      `Clusterfile:3: process.web.env_file: bad.env:1: PORT: "70000" is not a port (want 1-65535)`,
	} {
		write(t, dir, "Clusterfile", body)
		if _, err := loadWith(cf, nil, 1, nil); err == nil || err.Error() != want {
			t.Errorf("%q: error %v, want %q", body, err, want)
		}
	}
}
