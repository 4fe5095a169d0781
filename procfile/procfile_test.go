package procfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func write(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func load(t *testing.T, name, body string, files ...string) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	for i := 0; i+1 < len(files); i += 2 {
		write(t, dir, files[i], files[i+1])
	}
	return LoadWith(write(t, dir, name, body), []string{"PATH=/usr/bin:/bin", "HOME=/home/x", "PORT=1"}, 4)
}

func TestDefaults(t *testing.T) {
	cfg, err := load(t, "Clusterfile", "[process.web]\ncommand = \"app\"\n[process.jobs]\ncommand = \"jobs\"\nlisten = \":9000\"\nsocket = \"proxy\"\n[process.api]\ncommand = \"api\"\nlisten = \":9001\"\n")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ShutdownTimeout != 30*time.Second || cfg.Name != filepath.Base(cfg.Dir) || cfg.Format != FormatClusterfile {
		t.Errorf("config defaults: %+v", cfg)
	}
	web, jobs, api := cfg.Processes[0], cfg.Processes[1], cfg.Processes[2]
	if web.Name != "web" || jobs.Name != "jobs" || api.Name != "api" {
		t.Fatalf("file order lost: %s %s %s", web.Name, jobs.Name, api.Name)
	}
	if web.Workers != 4 || !web.WorkersAuto || web.Restart != RestartAlways || web.MaxRestarts != 10 ||
		web.RestartWindow != time.Minute || web.StopSignal != syscall.SIGTERM || web.StopTimeout != 10*time.Second ||
		web.KillMode != KillGroup || web.Socket != SocketInherit || web.Dir != cfg.Dir {
		t.Errorf("process defaults: %+v", web)
	}
	if web.Ready.Kind != ReadyStarted || web.Ready.Timeout != time.Minute {
		t.Errorf("no listen: ready %+v, want started", web.Ready)
	}
	if jobs.Ready.Kind != ReadyTCP {
		t.Errorf("proxy: ready %+v, want tcp", jobs.Ready)
	}
	if api.Ready.Kind != ReadyDelay || api.Ready.Delay != time.Second {
		t.Errorf("inherit: ready %+v, want delay 1s", api.Ready)
	}
}

func TestEveryKeyWithDir(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	write(t, dir, ".env", "SECRET=s3\nSHARED=file\n")
	write(t, dir, "web.env", "WEBONLY=1\n")
	path := write(t, dir, "Clusterfile", `
name = "shop"
env_file = [".env"]
shutdown_timeout = "45s"
[env]
NODE_ENV = "production"
SHARED = "top"
NUM = 3
[process.web]
command = "node server.js --port $PORT --env $NODE_ENV"
workers = 3
dir = "sub"
listen = [":8080", "127.0.0.1:8081", "[::1]:8082", "unix:run/app.sock"]
socket = "proxy"
restart = "on-failure"
max_restarts = 5
restart_window = "2m"
stop_signal = "QUIT"
stop_timeout = "3s"
kill_mode = "mixed"
ready = { http = "/healthz", timeout = "9s" }
watch = ["src/**/*.js", "package.json"]
watch_ignore = ["**/*.test.js"]
watch_poll = "1s"
max_memory = "512MiB"
user = "nobody"
env_file = "web.env"
[process.web.env]
SHARED = "web"
`)
	cfg, err := LoadWith(path, []string{"PATH=/bin", "SHARED=os", "OSONLY=1"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Processes[0]
	if cfg.Name != "shop" || cfg.ShutdownTimeout != 45*time.Second {
		t.Errorf("top level: %+v", cfg)
	}
	if p.Workers != 3 || p.WorkersAuto || p.Dir != filepath.Join(dir, "sub") || p.Socket != SocketProxy ||
		p.Restart != RestartOnFailure || p.MaxRestarts != 5 || p.RestartWindow != 2*time.Minute ||
		p.StopSignal != syscall.SIGQUIT || p.StopTimeout != 3*time.Second || p.KillMode != KillMixed ||
		p.Ready.Kind != ReadyHTTP || p.Ready.HTTP != "/healthz" || p.Ready.Timeout != 9*time.Second ||
		len(p.Watch) != 2 || p.WatchIgnore[0] != "**/*.test.js" || p.WatchPoll != time.Second ||
		p.MaxMemory != 512<<20 || p.User != "nobody" {
		t.Errorf("process: %+v", p)
	}
	if len(p.Listen) != 4 || p.Listen[3].Network != "unix" || p.Listen[3].Addr != filepath.Join(dir, "run/app.sock") || p.Listen[2].Addr != "[::1]:8082" {
		t.Errorf("listen: %+v", p.Listen)
	}
	env := strings.Join(p.Env, " ")
	// OS env < env_file < [env] < [process.X.env]
	for _, want := range []string{"SHARED=web", "SECRET=s3", "WEBONLY=1", "OSONLY=1", "NODE_ENV=production", "NUM=3"} {
		if !strings.Contains(" "+env+" ", " "+want+" ") {
			t.Errorf("env lacks %s: %s", want, env)
		}
	}
	if top := strings.Join(cfg.Env, " "); !strings.Contains(top, "SHARED=top") || strings.Contains(top, "WEBONLY") {
		t.Errorf("cluster env: %s", top)
	}
	argv, err := p.Argv(append(p.Env, "PORT=7000"))
	if err != nil || strings.Join(argv, " ") != "node server.js --port 7000 --env production" {
		t.Errorf("argv %q %v", argv, err)
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name, body string
		want       []string
	}{
		{"unknown key with did-you-mean", "[process.web]\ncommand = \"x\"\nworker = 2\n",
			[]string{`Clusterfile:3: unknown key "worker" in [process.web] (did you mean "workers"?)`}},
		{"unknown top key", "nme = \"x\"\n[process.web]\ncommand = \"x\"\n",
			[]string{`Clusterfile:1: unknown key "nme" at the top level (did you mean "name"?)`}},
		{"unknown ready key", "[process.web]\ncommand = \"x\"\nready = { lgo = \"up\" }\n",
			[]string{`Clusterfile:3: unknown key "lgo" in [process.web.ready] (did you mean "log"?)`}},
		{"syntax", "[process.web]\ncommand = \"x\nworkers = 2\n",
			[]string{`Clusterfile:2:`}},
		{"bad values all at once", `[process.web]
command = "x"
workers = -1
stop_signal = "HUPP"
stop_timeout = "10"
max_memory = "12 parsecs"
restart = "sometimes"
kill_mode = "all"
listen = "localhost"
`, []string{
			`Clusterfile:3: process.web.workers: -1: want 0 or more`,
			`Clusterfile:4: process.web.stop_signal: unknown signal "HUPP"`,
			`Clusterfile:5: process.web.stop_timeout: "10": want a duration`,
			`Clusterfile:6: process.web.max_memory: "12 parsecs": want a size`,
			`Clusterfile:7: process.web.restart: "sometimes": want "always", "on-failure" or "never"`,
			`Clusterfile:8: process.web.kill_mode: "all": want "group" or "mixed"`,
			`Clusterfile:9: process.web.listen: "localhost": want ":8080"`,
		}},
		{"workers string", "[process.web]\ncommand = \"x\"\nworkers = \"many\"\n",
			[]string{`Clusterfile:3: process.web.workers: "many": want an integer or "auto"`}},
		{"socket without listen", "[process.web]\ncommand = \"x\"\nsocket = \"proxy\"\n",
			[]string{`Clusterfile:3: process.web.socket: set without listen`}},
		{"http ready in inherit mode", "[process.web]\ncommand = \"x\"\nlisten = \":8080\"\nready = { http = \"/h\" }\n",
			[]string{`Clusterfile:4: process.web.ready.http: in inherit mode every worker shares one port`, `use ready.notify, ready.log, or socket = "proxy"`}},
		{"two ready kinds", "[process.web]\ncommand = \"x\"\nready = { log = \"up\", delay = \"1s\" }\n",
			[]string{`Clusterfile:3: process.web.ready: set one of notify, log, http, tcp or delay, not delay and log`}},
		{"missing command", "[process.web]\nworkers = 1\n[process.jobs]\ncommand = \"\"\n",
			[]string{`Clusterfile:1: process.web.command: missing`, `Clusterfile:4: process.jobs.command: empty command`}},
		{"bad command quoting", "[process.web]\ncommand = \"echo 'unterminated\"\n",
			[]string{`Clusterfile:2: process.web.command: unterminated ' quote`}},
		{"missing env_file", "env_file = \"nope.env\"\n[process.web]\ncommand = \"x\"\n",
			[]string{`Clusterfile:1: env_file: env file nope.env does not exist`}},
		{"bad process name", "[process.\"we b\"]\ncommand = \"x\"\n",
			[]string{`process name "we b"`}},
		{"no processes", "name = \"x\"\n", []string{`no [process.NAME] table`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := load(t, "Clusterfile", c.body)
			if err == nil {
				t.Fatalf("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if c.name == "bad values all at once" && strings.Count(err.Error(), "\n") != len(c.want)-1 {
				t.Errorf("want exactly %d lines:\n%v", len(c.want), err)
			}
		})
	}
}

func TestProcfile(t *testing.T) {
	cfg, err := load(t, "Procfile", "# comment\n\nweb: bundle exec rails s -p $PORT\nworker:   node jobs.js  \n", ".env", "export RAILS_ENV=development\n")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Format != FormatProcfile || len(cfg.Processes) != 2 || cfg.Processes[0].Workers != 1 || cfg.Processes[1].Command != "node jobs.js" {
		t.Fatalf("procfile: %+v", cfg.Processes)
	}
	if !strings.Contains(strings.Join(cfg.Processes[0].Env, " "), "RAILS_ENV=development") {
		t.Errorf(".env beside the Procfile not loaded")
	}
	for _, c := range []struct{ body, want string }{
		{"web: a\nweb: b\n", `Procfile:2: process "web" is already defined on line 1`},
		{"web a\n", `Procfile:1: want "name: command"`},
		{"we b: a\n", `Procfile:1: process name "we b"`},
		{"web:\n", `Procfile:1: process.web.command: empty command`},
		{"# only comments\n", `no processes`},
	} {
		_, err := load(t, "Procfile", c.body)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.body, err, c.want)
		}
	}
}

func TestDotenv(t *testing.T) {
	src := `# comment
export A=1
B = two words  # trailing comment
C='single $A "quoted" \n'
D="double $A ${B} \"q\" \$A \n next"
E="multi
line"
F=${A}x$A
G=$(rm -rf /) ` + "`id`" + `
H=
I="url#not-a-comment"
J=val#not-a-comment
K=${UNSET:-default}
L=$HOME
export` + "\t" + `M=tab
exportN=1
`
	got, err := ParseDotenv(strings.NewReader(src), ".env", func(k string) (string, bool) {
		if k == "HOME" {
			return "/home/x", true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"A": "1", "B": "two words", "C": `single $A "quoted" \n`, "D": "double 1 two words \"q\" $A \n next",
		"E": "multi\nline", "F": "1x1", "G": "$(rm -rf /) `id`", "H": "", "I": "url#not-a-comment",
		"J": "val#not-a-comment", "K": "default", "L": "/home/x", "M": "tab", "exportN": "1",
	}
	if len(got) != len(want) {
		t.Errorf("got %d pairs: %q", len(got), got)
	}
	for _, kv := range got {
		if want[kv[0]] != kv[1] {
			t.Errorf("%s = %q, want %q", kv[0], kv[1], want[kv[0]])
		}
	}
	for _, c := range []struct{ src, want string }{
		{"A=1\nnot a pair\n", ".env:2: want KEY=value"},
		{"A=\"open\nB=2\n", ".env:1: A: unterminated double-quoted value"},
		{"A='open\n", ".env:1: A: unterminated single-quoted value"},
		{"1A=x\n", `.env:1: "1A" is not a valid variable name`},
		{"A=\"x\" junk\n", `.env:1: A: unexpected "junk" after the closing quote`},
	} {
		_, err := ParseDotenv(strings.NewReader(c.src), ".env", nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.src, err, c.want)
		}
	}
}

func TestArgv(t *testing.T) {
	env := []string{"PORT=5000", "NAME=a b", "EVIL=x\"; rm -rf / $HOME"}
	for _, c := range []struct {
		cmd  string
		want []string
	}{
		{`node server.js --port $PORT`, []string{"node", "server.js", "--port", "5000"}},
		{`sh -c 'echo $HOME "x"'`, []string{"sh", "-c", `echo $HOME "x"`}},
		{`echo "a $NAME b"`, []string{"echo", "a a b b"}},
		{"echo `id` $(id)", []string{"echo", "`id`", "$(id)"}},
		{`echo ${PORT}x '${PORT}'`, []string{"echo", "5000x", "${PORT}"}},
		{`echo $EVIL`, []string{"echo", "x\"; rm -rf / $HOME"}},
		{`echo $NAME`, []string{"echo", "a b"}},
		{`echo \$PORT`, []string{"echo", "$PORT"}},
	} {
		got, err := splitCommand(c.cmd, env, false)
		if err != nil || strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%s: got %q %v, want %q", c.cmd, got, err, c.want)
		}
	}
	p := &Process{Shell: true, Command: "echo $PORT | wc"}
	if argv, _ := p.Argv(env); strings.Join(argv, "|") != "/bin/sh|-c|echo $PORT | wc" {
		t.Errorf("shell argv %q", argv)
	}
}

func TestSizesAndSignals(t *testing.T) {
	for in, want := range map[any]int64{"512MiB": 512 << 20, "1GB": 1e9, "2KiB": 2048, "10KB": 10000, int64(77): 77, "1.5GiB": 3 << 29} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%v) = %d %v, want %d", in, got, err, want)
		}
	}
	for in, want := range map[any]syscall.Signal{"SIGTERM": syscall.SIGTERM, "usr2": syscall.SIGUSR2, "HUP": syscall.SIGHUP, int64(9): syscall.SIGKILL} {
		if got, err := parseSignal(in); err != nil || got != want {
			t.Errorf("parseSignal(%v) = %v %v", in, got, err)
		}
	}
}

func TestExampleParses(t *testing.T) {
	cfg, err := Load("../Clusterfile.example")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Processes) != 2 || cfg.Processes[0].Name != "web" || len(cfg.Processes[0].Listen) != 1 {
		t.Errorf("Clusterfile.example: %+v", cfg.Processes)
	}
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	if _, err := Find(dir); err == nil || !strings.Contains(err.Error(), "no Clusterfile or Procfile") {
		t.Errorf("Find in empty dir: %v", err)
	}
	// The files -f could name instead are in the error.
	write(t, dir, "Procfile.dev", "web: x\n")
	write(t, dir, "Clusterfile.example", "[process.web]\ncommand = \"x\"\n")
	write(t, dir, "notes.txt", "")
	os.Mkdir(filepath.Join(dir, "Procfile.d"), 0o755)
	// A Procfile in another case would be read as a Clusterfile by -f:
	// not a candidate, one to rename.
	write(t, dir, "procfile.test", "web: x\n")
	var none *NoConfigError
	if _, err := Find(dir); !errors.As(err, &none) || !slices.Equal(none.Others, []string{"Clusterfile.example", "Procfile.dev"}) ||
		!slices.Equal(none.Misnamed, []string{"procfile.test"}) {
		t.Errorf("Find beside Clusterfile.example: %#v", err)
	}
	write(t, dir, "Procfile", "web: x\n")
	if p, _ := Find(dir); filepath.Base(p) != "Procfile" {
		t.Errorf("Find = %s", p)
	}
	write(t, dir, "Clusterfile", "[process.web]\ncommand = \"x\"\n")
	if p, _ := Find(dir); filepath.Base(p) != "Clusterfile" {
		t.Errorf("Find = %s, want Clusterfile first", p)
	}
}

// A Procfile line runs as foreman runs it, through sh: an unquoted $VAR
// splits into words (it is exec'd without a shell, split the same way).
func TestProcfileUnquotedVarSplitsIntoWords(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ".env"), []byte("OPTS=\"--workers 3 --bind 0.0.0.0\"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "Procfile"), []byte("web: gunicorn app:app $OPTS\nq: echo \"$OPTS\"\n"), 0o644)
	cfg, err := LoadWith(filepath.Join(dir, "Procfile"), []string{"PATH=/usr/bin:/bin"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]string{{"gunicorn", "app:app", "--workers", "3", "--bind", "0.0.0.0"}, {"echo", "--workers 3 --bind 0.0.0.0"}} {
		p := cfg.Processes[i]
		argv, err := p.Argv(p.Env)
		if err != nil || p.Shell || !slices.Equal(argv, want) {
			t.Errorf("%s: argv %q (shell %v, %v), want %q", p.Name, argv, p.Shell, err, want)
		}
	}
}

// Other ${...} forms (${X:+y}, ${X%y}, ${#X}) are sh's: a Procfile line
// with one runs through sh, as under foreman, instead of being refused.
func TestProcfileOtherExpansionsRunThroughSh(t *testing.T) {
	for _, line := range []string{"web: app ${DEBUG:+--verbose}", "web: app ${HOME%/}", "web: app ${#HOME}"} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "Procfile"), []byte(line+"\n"), 0o644)
		cfg, err := LoadWith(filepath.Join(dir, "Procfile"), []string{"PATH=/usr/bin:/bin"}, 2)
		if err != nil {
			t.Errorf("%s: %v", line, err)
		} else if !cfg.Processes[0].Shell {
			t.Errorf("%s: exec'd without a shell", line)
		}
	}
}

// In an env file $$ is a literal $, as in docker compose (it was "pa$":
// one $ kept, then $word expanded to nothing).
func TestDotenvDoubleDollar(t *testing.T) {
	out, err := ParseDotenv(strings.NewReader("PASS=pa$$word\nQ=\"a$$b\"\n"), ".env", nil)
	if err != nil || len(out) != 2 || out[0][1] != "pa$word" || out[1][1] != "a$b" {
		t.Errorf("got %q %v, want pa$word and a$b", out, err)
	}
}

// A UTF-8 byte order mark (some Windows editors write one) starts a
// Procfile or an env file without being part of its first name.
func TestByteOrderMarkIsSkipped(t *testing.T) {
	out, err := ParseDotenv(strings.NewReader("\ufeffFOO=bar\n"), ".env", nil)
	if err != nil || len(out) != 1 || out[0][0] != "FOO" {
		t.Errorf(".env: %q %v", out, err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Procfile"), []byte("\ufeffweb: app\n"), 0o644)
	cfg, err := LoadWith(filepath.Join(dir, "Procfile"), []string{"PATH=/usr/bin:/bin"}, 2)
	if err != nil || cfg.Processes[0].Name != "web" {
		t.Errorf("Procfile: %v", err)
	}
}

// A job-control signal pauses or resumes a worker and never ends it, so it
// cannot be a stop_signal; `cluster signal` (ParseSignal) still sends it.
func TestJobControlStopSignal(t *testing.T) {
	body := ""
	for i, sig := range []string{`"STOP"`, `"SIGTSTP"`, `"ttin"`, `"TTOU"`, `"CONT"`, fmt.Sprint(int(syscall.SIGSTOP)), `"TERM"`, `"USR2"`} {
		body += fmt.Sprintf("[process.p%d]\ncommand = \"x\"\nstop_signal = %s\n", i, sig)
	}
	_, err := load(t, "Clusterfile", body)
	var got []string
	if err != nil {
		got = strings.Split(err.Error(), "\n")
	}
	want := []string{
		`Clusterfile:3: process.p0.stop_signal: "STOP" `,
		`Clusterfile:6: process.p1.stop_signal: "SIGTSTP" `,
		`Clusterfile:9: process.p2.stop_signal: "ttin" `,
		`Clusterfile:12: process.p3.stop_signal: "TTOU" `,
		`Clusterfile:15: process.p4.stop_signal: "CONT" `,
		fmt.Sprintf(`Clusterfile:18: process.p5.stop_signal: %d `, int(syscall.SIGSTOP)),
	}
	if len(got) != len(want) {
		t.Fatalf("want %d errors, got %v", len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w) || !strings.Contains(got[i], "never ends it") || !strings.Contains(got[i], `use "TERM"`) {
			t.Errorf("error %q, want %q... never ends it... use \"TERM\"", got[i], w)
		}
	}
	for _, s := range []string{"STOP", "SIGTSTP", "TTIN", "TTOU", "CONT"} {
		if _, err := ParseSignal(s); err != nil {
			t.Errorf("ParseSignal(%q): %v", s, err)
		}
	}
}

// A file in Procfile grammar under a name that does not start with
// "Procfile" is read as TOML: its syntax error says why, and the name to
// give it. Before, `cluster run -f dev.procfile` gave a bare TOML error.
func TestTOMLErrorOfAProcfile(t *testing.T) {
	for _, tt := range []struct{ name, body, want string }{
		{"dev.procfile", "web: npm start\nworker: node w.js\n", `dev.procfile:1:4: expected '.' or '=', but got ':' instead (dev.procfile looks like a Procfile, but only a file whose name starts with "Procfile" is read as one, any other as a Clusterfile in TOML: rename it Procfile.dev)`},
		{"procs", "# dev\n\nweb: npm start\n", `(procs looks like a Procfile, but only a file whose name starts with "Procfile" is read as one, any other as a Clusterfile in TOML: rename it Procfile.procs)`},
		// The word procfile in any case, first or last, is the name's Procfile.
		{"procfile", "web: echo hi\n", `(procfile looks like a Procfile, but only a file whose name starts with "Procfile" is read as one, any other as a Clusterfile in TOML: rename it Procfile)`},
		{"procfile.dev", "web: echo hi\n", `rename it Procfile.dev)`},
		{"PROCFILE.test", "web: echo hi\n", `rename it Procfile.test)`},
		{"dev-Procfile", "web: echo hi\n", `rename it Procfile.dev)`},
		{"dev.PROCFILE", "web: echo hi\n", `rename it Procfile.dev)`},
		{"Clusterfile", "[process.web\ncommand = \"x\"\n", "Clusterfile:1:13: expected '.' or ']' to end table name, but got '\\n' instead"},
		{"cf", "name: x\n[process.web]\n", ""}, // not a TOML error
	} {
		_, err := load(t, tt.name, tt.body)
		if tt.want == "" {
			if err != nil && strings.Contains(err.Error(), "looks like a Procfile") {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.HasSuffix(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
		if tt.name == "Clusterfile" && strings.Contains(err.Error(), "Procfile") {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}
