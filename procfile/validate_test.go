package procfile

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// loadIn writes files (name, body pairs) to a new directory and loads the
// first one with the given OS env and CPU count.
func loadIn(t *testing.T, osEnv []string, numCPU int, files ...string) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	for i := 0; i+1 < len(files); i += 2 {
		write(t, dir, files[i], files[i+1])
	}
	return LoadWith(filepath.Join(dir, files[0]), osEnv, numCPU)
}

// TestRejected: values exec, the runner or the watcher could not use as
// meant are configuration errors naming file, line and key, all at once.
func TestRejected(t *testing.T) {
	big := strings.Repeat("x", 100<<10)
	cases := []struct {
		name  string
		files []string // Clusterfile or Procfile first, then other files
		want  []string // one per line of the error, "…" for any text
	}{
		// TOML syntax errors name the line the error is on, also when the
		// decoder stopped on that line's end.
		{"unclosed table header", []string{"Clusterfile", "# c\nname = \"x\"\n\n[process.web\ncommand = \"sleep 1\"\n"},
			[]string{`Clusterfile:4:13: expected '.' or ']' to end table name, but got '\n' instead`}},
		{"unterminated string", []string{"Clusterfile", "[process.web]\ncommand = \"sleep 1\nworkers = 2\n"},
			[]string{`Clusterfile:2:19: strings cannot contain newlines`}},
		// NUL bytes and bad names in the environment.
		{"NUL in [env] value", []string{"Clusterfile", "[env]\nA = \"x\\u0000y\"\n[process.web]\ncommand = \"x\"\n"},
			[]string{`Clusterfile:2: env.A: the value contains a NUL byte`}},
		{"NUL in process env value", []string{"Clusterfile", "[process.web]\ncommand = \"x\"\n[process.web.env]\nOK = 1\nB = \"\\u0000\"\n"},
			[]string{`Clusterfile:5: process.web.env.B: the value contains a NUL byte`}},
		{"NUL in env name", []string{"Clusterfile", "[env]\n\"A\\u0000\" = \"x\"\n[process.web]\ncommand = \"x\"\n"},
			[]string{`Clusterfile:1: env."A\x00": a variable name cannot contain "=" or a NUL byte`}},
		{"empty env name", []string{"Clusterfile", "[env]\n\"\" = \"x\"\n[process.web]\ncommand = \"x\"\n"},
			[]string{`Clusterfile:2: env."": an environment variable needs a name`}},
		{"= in env name", []string{"Clusterfile", "[process.web]\ncommand = \"x\"\nenv = { \"A=B\" = \"x\" }\n"},
			[]string{`Clusterfile:3: process.web.env."A=B": a variable name cannot contain "="`}},
		{"NUL in dotenv value", []string{"Clusterfile", "env_file = \".env\"\n[process.web]\ncommand = \"x\"\n", ".env", "A=1\nB=x\x00y\n"},
			[]string{`Clusterfile:1: env_file: .env:2: B: the value contains a NUL byte`}},
		{"NUL in quoted dotenv value", []string{"Clusterfile", "[process.web]\ncommand = \"x\"\nenv_file = \"web.env\"\n", "web.env", "\nB=\"x\x00\"\n"},
			[]string{`Clusterfile:3: process.web.env_file: web.env:2: B: the value contains a NUL byte`}},
		{"NUL in dotenv name", []string{"Clusterfile", "env_file = \".env\"\n[process.web]\ncommand = \"x\"\n", ".env", "A\x00=1\n"},
			[]string{`Clusterfile:1: env_file: .env:1: "A\x00" is not a valid variable name`}},
		{"empty dotenv name", []string{"Clusterfile", "env_file = \".env\"\n[process.web]\ncommand = \"x\"\n", ".env", "A=1\n=x\n"},
			[]string{`Clusterfile:1: env_file: .env:2: want KEY=value`}},
		{"NUL in Procfile .env", []string{"Procfile", "web: x\n", ".env", "A='\x00'\n"},
			[]string{`.env:1: A: the value contains a NUL byte`}},
		{"NUL in command", []string{"Clusterfile", "[process.web]\ncommand = \"a\\u0000b\"\n"},
			[]string{`Clusterfile:2: process.web.command: contains a NUL byte`}},

		// Durations: negative ones anywhere, 0 where it means nothing.
		{"zero durations", []string{"Clusterfile", `shutdown_timeout = "0s"
[process.web]
command = "x"
restart_window = "0s"
ready = { log = "up", timeout = "0s" }
watch = ["*.go"]
watch_poll = "0"
stop_timeout = "0s"
`}, []string{
			`Clusterfile:1: shutdown_timeout: "0s": want a duration above 0: every stop would SIGKILL whatever is left at once and exit 1; to kill workers at once, set their stop_signal = "KILL"`,
			`Clusterfile:4: process.web.restart_window: "0s": want a duration above 0`,
			`Clusterfile:5: process.web.ready.timeout: "0s": want a duration above 0`,
			`Clusterfile:7: process.web.watch_poll: "0": want a duration above 0`,
			`Clusterfile:8: process.web.stop_timeout: "0s": want a duration above 0: every stop would SIGKILL the worker at once and count as one that did not stop (exit 1); to kill it at once, set stop_signal = "KILL"`,
		}},
		{"negative durations", []string{"Clusterfile", `shutdown_timeout = "-1s"
[process.web]
command = "x"
stop_timeout = "-1ms"
restart_window = "-1m"
ready = { delay = "-1s", timeout = "-2s" }
watch_poll = "-1s"
`}, []string{
			`Clusterfile:1: shutdown_timeout: "-1s": want a duration above 0, not a negative one`,
			`Clusterfile:4: process.web.stop_timeout: "-1ms": want a duration above 0, not a negative one`,
			`Clusterfile:5: process.web.restart_window: "-1m": want a duration above 0, not a negative one`,
			`Clusterfile:6: process.web.ready.timeout: "-2s": want a duration above 0, not a negative one`,
			`Clusterfile:6: process.web.ready.delay: "-1s": want a duration of 0 or more, not a negative one`,
			`Clusterfile:7: process.web.watch_poll: "-1s": want a duration above 0, not a negative one`,
		}},
		{"delay not shorter than timeout", []string{"Clusterfile", "[process.web]\ncommand = \"x\"\nready = { delay = \"5s\", timeout = \"5s\" }\n"},
			[]string{`Clusterfile:3: process.web.ready.delay: ready.delay 5s is not shorter than ready.timeout 5s`}},
		{"default delay not shorter than timeout", []string{"Clusterfile", "[process.web]\ncommand = \"x\"\nlisten = \":8080\"\nready = { timeout = \"500ms\" }\n"},
			[]string{`Clusterfile:4: process.web.ready.timeout: ready.delay 1s is not shorter than ready.timeout 500ms`}},

		// Sizes that do not fit, or are negative.
		{"sizes", []string{"Clusterfile", `[process.a]
command = "x"
max_memory = "99999999999999999999GiB"
[process.b]
command = "x"
max_memory = "8589934592GiB"
[process.c]
command = "x"
max_memory = "1e30"
[process.d]
command = "x"
max_memory = -5
[process.e]
command = "x"
max_memory = "-1MiB"
[process.f]
command = "x"
max_memory = "0.1B"
[process.g]
command = "x"
max_memory = "99999999999999999999.5TB"
`}, []string{
			`Clusterfile:3: process.a.max_memory: "99999999999999999999GiB": too large`,
			`Clusterfile:6: process.b.max_memory: "8589934592GiB": too large`,
			`Clusterfile:9: process.c.max_memory: "1e30": want a size`,
			`Clusterfile:12: process.d.max_memory: -5: a size cannot be negative`,
			`Clusterfile:15: process.e.max_memory: "-1MiB": a size cannot be negative`,
			`Clusterfile:18: process.f.max_memory: "0.1B": less than one byte`,
			`Clusterfile:21: process.g.max_memory: "99999999999999999999.5TB": too large`,
		}},

		// Globs the watcher would take literally or never match.
		{"globs", []string{"Clusterfile", `[process.web]
command = "x"
watch = ["src/**/*.go", "[[["]
watch_ignore = ["ok/**", "a/[b-/c", "x\\", "", "../up/*.go", "a//b"]
`}, []string{
			`Clusterfile:3: process.web.watch: "[[[": unclosed character class`,
			`Clusterfile:4: process.web.watch_ignore: "a/[b-/c": unclosed character class in "[b-"`,
			`Clusterfile:4: process.web.watch_ignore: "x\\": a trailing \ quotes nothing`,
			`Clusterfile:4: process.web.watch_ignore: "": an empty glob matches nothing`,
			`Clusterfile:4: process.web.watch_ignore: "../up/*.go": a ".." segment matches nothing`,
			`Clusterfile:4: process.web.watch_ignore: "a//b": empty path segment`,
		}},

		// Values of the wrong type, written as TOML writes them.
		{"wrong types", []string{"Clusterfile", `[process.web]
command = "x"
listen = ":8080"
socket = 65
restart = 3
kill_mode = true
[process.api]
command = "x"
listen = ":8081"
socket = "proxy"
ready = { http = 5 }
[process.jobs]
command = "x"
ready = { log = 5 }
[process.mail]
command = "x"
ready = { log = "" }
[process.cron]
command = "x"
workers = "many"
`}, []string{
			`Clusterfile:4: process.web.socket: 65: want "inherit" or "proxy"`,
			`Clusterfile:5: process.web.restart: 3: want "always", "on-failure" or "never"`,
			`Clusterfile:6: process.web.kill_mode: true: want "group" or "mixed"`,
			`Clusterfile:11: process.api.ready.http: 5: want a path such as "/healthz"`,
			`Clusterfile:14: process.jobs.ready.log: 5: want a string`,
			`Clusterfile:17: process.mail.ready.log: "": want a regular expression that is not empty`,
			`Clusterfile:20: process.cron.workers: "many": want an integer or "auto"`,
		}},

		// Lines: a table header defines its parents; text inside strings
		// defines no key, wherever the string opens and however it ends.
		{"header of a misspelt table", []string{"Clusterfile", "[process.web]\ncommand = \"x\"\n\n[proces.api]\ncommand = \"y\"\n"},
			[]string{`Clusterfile:4: unknown key "proces" at the top level (did you mean "process"?)`}},
		{"process defined by its env table", []string{"Clusterfile", "[process.web]\ncommand = \"x\"\n[process.api.env]\nA = \"1\"\n"},
			[]string{`Clusterfile:3: process.api.command: missing`}},
		{"escaped quotes in a multi-line string", []string{"Clusterfile", `[process.web]
shell = true
command = """echo \"""
workers = 2
"""
workers = -1
`}, []string{`Clusterfile:6: process.web.workers: -1: want 0 or more`}},
		{"multi-line string in an inline table", []string{"Clusterfile", `[process.web]
command = "x"
env = { NOTE = """
workers = 2
""" }
workers = -1
`}, []string{`Clusterfile:6: process.web.workers: -1: want 0 or more`}},
		{"multi-line literal string in an array", []string{"Clusterfile", `[process.web]
command = "x"
watch = ["src/*", '''
stop_signal = 1''']
stop_signal = "HUPP"
`}, []string{`Clusterfile:5: process.web.stop_signal: unknown signal "HUPP"`}},
		{"quotes ending a multi-line string", []string{"Clusterfile", `[process.web]
command = "x"
env = { A = """a"""", B = '''b''''' }
[process.web.ready]
log = """
[process.api]
"""
timeout = "1"
`}, []string{`Clusterfile:8: process.web.ready.timeout: "1": want a duration`}},

		// Worker counts.
		{"workers over MaxWorkers", []string{"Clusterfile", "[process.web]\ncommand = \"x\"\nworkers = 4294967297\n[process.jobs]\ncommand = \"x\"\nworkers = 1025\n"},
			[]string{`Clusterfile:3: process.web.workers: 4294967297 is over the limit of 1024 workers per type`,
				`Clusterfile:6: process.jobs.workers: 1025 is over the limit of 1024 workers per type`}},
		{"total over MaxTotalWorkers", []string{"Clusterfile", "[process.a]\ncommand = \"x\"\nworkers = 1024\n[process.b]\ncommand = \"x\"\nworkers = 1024\n" +
			"[process.c]\ncommand = \"x\"\nworkers = 1024\n[process.d]\ncommand = \"x\"\nworkers = 1021\n[process.e]\ncommand = \"x\"\n"},
			[]string{`Clusterfile:13: process.e.workers: 4 brings the workers of all types to 4097, over the limit of 4096 ("auto" counts 4, one per CPU)`}},
		{"Procfile over MaxTotalWorkers", []string{"Procfile", procfileLines(MaxTotalWorkers + 1)},
			[]string{fmt.Sprintf(`Procfile:%d: process.p%d.workers: 1 brings the workers of all types to %d, over the limit of 4096`, MaxTotalWorkers+1, MaxTotalWorkers+1, MaxTotalWorkers+1)}},

		// What exec cannot take.
		{"argument over ArgStrMax", []string{"Clusterfile", "[process.web]\ncommand = \"echo " + strings.Repeat("y", ArgStrMax) + "\"\n"},
			[]string{`Clusterfile:2: process.web.command: an argument of 131073 bytes is over the 128 KiB limit of one argument (ArgStrMax)`}},
		{"env value over ArgStrMax", []string{"Clusterfile", "[env]\nA = \"" + strings.Repeat("y", ArgStrMax) + "\"\n[process.web]\ncommand = \"x\"\n"},
			[]string{`Clusterfile:2: env.A: 131075 bytes is over the 128 KiB limit of one environment variable (ArgStrMax)`}},
		{"dotenv value over ArgStrMax", []string{"Clusterfile", "env_file = \".env\"\n[process.web]\ncommand = \"x\"\n", ".env", "A=1\nB=" + strings.Repeat("y", ArgStrMax) + "\n"},
			[]string{`Clusterfile:1: env_file: .env:2: B: 131075 bytes is over the 128 KiB limit of one environment variable`}},
		{"argv over ArgMax", []string{"Clusterfile", "[env]\nBIG = \"" + big + "\"\n[process.web]\ncommand = \"echo" + strings.Repeat(" $BIG", ArgMax/len(big)+1) + "\"\n"},
			[]string{`Clusterfile:4: process.web.command: the command (…) and its environment (102431 bytes in 2 variables) are over the … that exec takes (ArgMax)`}},
		{"env over ArgMax", []string{"Clusterfile", "env_file = [\"1.env\", \"2.env\", \"3.env\"]\n[process.web]\ncommand = \"x\"\n",
			"1.env", envFile("A", 9, big), "2.env", envFile("B", 9, big), "3.env", envFile("C", 9, big)},
			[]string{`Clusterfile:2: process.web.env: the command (10 B) and its environment (… in 28 variables) are over the … that exec takes (ArgMax)`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := loadIn(t, []string{"PATH=/bin"}, 4, c.files...)
			if err == nil {
				t.Fatalf("no error")
			}
			lines := strings.Split(err.Error(), "\n")
			for _, w := range c.want {
				if !slices.ContainsFunc(lines, func(line string) bool { return matchParts(line, strings.Split(w, "…")) }) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if len(lines) != len(c.want) {
				t.Errorf("want %d errors, got %d:\n%v", len(c.want), len(lines), err)
			}
		})
	}
}

// matchParts reports whether s holds every part, in order.
func matchParts(s string, parts []string) bool {
	for _, p := range parts {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return true
}

func procfileLines(n int) string {
	var sb strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&sb, "p%d: x\n", i)
	}
	return sb.String()
}

func envFile(prefix string, n int, value string) string {
	var sb strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "%s%d=%s\n", prefix, i, value)
	}
	return sb.String()
}

// TestAccepted: the edges of what the checks above reject still load.
func TestAccepted(t *testing.T) {
	cfg, err := loadIn(t, []string{"PATH=/bin"}, 2, "Clusterfile", `shutdown_timeout = "1ns"
[env]
EMPTY = ""
"with.dot-and space" = "ok"
[process.web]
command = "x"
workers = 1024
stop_timeout = "1ns"
stop_signal = "KILL"
ready = { delay = "0s", timeout = "1ns" }
max_memory = "8589934591GiB"
watch = ["src/**/*.js", "**", "[]a]", "[a-]", "[!a-z]*.go", "[^x]", "\\[lit", "a\\*b", "././x", "./src/**", "dist/", "*.{js,ts}", "é?[é-ü]", "[\\]]", "a**b"]
[process.jobs]
command = "x"
workers = 1024
[process.more]
command = "x"
workers = 1024
[process.auto]
command = "x"
[process.off]
command = "x"
workers = 0
`)
	if err != nil {
		t.Fatal(err)
	}
	web := cfg.Processes[0]
	if cfg.ShutdownTimeout != 1 || web.StopTimeout != 1 || web.StopSignal != syscall.SIGKILL || web.Ready.Kind != ReadyDelay || web.Ready.Delay != 0 ||
		web.MaxMemory != 8589934591<<30 || web.Workers != MaxWorkers || len(web.Watch) != 15 {
		t.Errorf("accepted values: shutdown %s stop %s ready %+v max_memory %d workers %d watch %q",
			cfg.ShutdownTimeout, web.StopTimeout, web.Ready, web.MaxMemory, web.Workers, web.Watch)
	}

	// "auto" is one worker per CPU, capped at MaxWorkers; four capped types
	// make exactly MaxTotalWorkers.
	body := strings.Repeat("[process.a]\ncommand = \"x\"\n", 1)
	for _, n := range []string{"b", "c", "d"} {
		body += "[process." + n + "]\ncommand = \"x\"\n"
	}
	cfg, err = loadIn(t, nil, 5000, "Clusterfile", body)
	if err != nil || cfg.Processes[0].Workers != MaxWorkers {
		t.Fatalf("4 auto types on 5000 CPUs: %v", err)
	}
	_, err = loadIn(t, nil, 5000, "Clusterfile", body+"[process.e]\ncommand = \"x\"\nworkers = 1\n")
	if err == nil || !strings.Contains(err.Error(), `Clusterfile:11: process.e.workers: 1 brings the workers of all types to 4097, over the limit of 4096 ("auto" counts 1024, one per CPU)`) {
		t.Errorf("one more worker: %v", err)
	}
}

func TestSizes(t *testing.T) {
	for in, want := range map[any]int64{
		"9223372036854775807": 1<<63 - 1, int64(1<<63 - 1): 1<<63 - 1, "8589934591GiB": (1<<33 - 1) << 30,
		"0": 0, "0.5KiB": 512, "1.5 MiB": 3 << 19, "7TB": 7e12, "2k": 2048, "1B": 1,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%v) = %d %v, want %d", in, got, err, want)
		}
	}
	for _, in := range []any{"9223372036854775808", "8589934592GiB", "8388608TiB", "18446744073709551616", "9.3e18", "1 parsec", "GiB", ".", "1.2.3MiB", int64(-1), "-0"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%v) = %d, want an error", in, got)
		}
	}
}

func TestArgSize(t *testing.T) {
	if got := ArgSize([]string{"ab", ""}, []string{"K=v"}); got != (2+1+8)+(0+1+8)+(3+1+8) {
		t.Errorf("ArgSize = %d", got)
	}
	if ArgSize(nil, nil) != 0 || ArgMax < 128<<10 || ArgMax > 2<<20 || ArgStrMax != 131072 {
		t.Errorf("limits: ArgMax %d ArgStrMax %d", ArgMax, ArgStrMax)
	}
	// The largest argument that fits, and one more byte.
	p := &Process{Name: "web", Command: "echo " + strings.Repeat("z", ArgStrMax-1)}
	l := &loader{file: "Clusterfile"}
	l.checkCommand(p, 1, 1)
	if err := l.err(); err != nil {
		t.Errorf("an argument of ArgStrMax bytes with its NUL: %v", err)
	}
	p.Command += "z"
	l.checkCommand(p, 1, 1)
	if err := l.err(); err == nil {
		t.Errorf("an argument one byte over ArgStrMax was accepted")
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1 KiB", 1536: "1.5 KiB", 1 << 20: "1 MiB", 1<<20 + 1: "1048577 bytes",
		200 << 20: "200 MiB", 200<<20 + 1: "209715201 bytes", 200<<20 + 200<<10: "200.2 MiB", 5 << 30: "5 GiB", 1<<63 - 1: "9223372036854775807 bytes", 3 << 60: "3 EiB",
	} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestNotRegular: Load refuses at once what is not a regular file, and
// never blocks on a FIFO.
func TestNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "Clusterfile")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.env"), 0o644); err != nil {
		t.Fatal(err)
	}
	envDir := t.TempDir()
	os.Mkdir(filepath.Join(envDir, "dir.env"), 0o755)
	withEnv := write(t, envDir, "Clusterfile", "env_file = \"dir.env\"\n[process.web]\ncommand = \"x\"\nenv_file = \""+filepath.Join(dir, "fifo.env")+"\"\n")
	procDir := t.TempDir()
	procfile := write(t, procDir, "Procfile", "web: x\n")
	if err := syscall.Mkfifo(filepath.Join(procDir, ".env"), 0o644); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		path string
		want []string
	}{
		{fifo, []string{fifo + ": not a regular file (a named pipe)"}},
		{"/dev/zero", []string{"/dev/zero: not a regular file (a character device)"}},
		{dir, []string{dir + ": not a regular file (a directory)"}},
		{withEnv, []string{"Clusterfile:1: env_file: dir.env: not a regular file (a directory)",
			"Clusterfile:4: process.web.env_file: " + filepath.Join(dir, "fifo.env") + ": not a regular file (a named pipe)"}},
		{procfile, []string{".env: not a regular file (a named pipe)"}},
	}
	for _, c := range cases {
		if c.path == "/dev/zero" {
			if _, err := os.Stat(c.path); err != nil {
				continue
			}
		}
		done := make(chan error, 1)
		go func() {
			_, err := LoadWith(c.path, nil, 1)
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("%s: no error", c.path)
				continue
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: error lacks %q:\n%v", c.path, w, err)
				}
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Load(%s) blocked", c.path)
		}
	}
}

func TestFileSizeLimit(t *testing.T) {
	dir := t.TempDir()
	head := "[process.web]\ncommand = \"x\"\n"
	pad := func(n int) string { return head + "#" + strings.Repeat("x", n-len(head)-2) + "\n" }
	ok := write(t, dir, "Clusterfile", pad(MaxFileSize))
	if _, err := LoadWith(ok, nil, 1); err != nil {
		t.Errorf("a file of exactly MaxFileSize: %v", err)
	}
	over := write(t, t.TempDir(), "Clusterfile", pad(MaxFileSize+1))
	if _, err := LoadWith(over, nil, 1); err == nil || err.Error() != over+": 1048577 bytes is over the 1 MiB limit" {
		t.Errorf("a file of MaxFileSize+1: %v", err)
	}
	huge := filepath.Join(t.TempDir(), "Procfile")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(200 << 20) // sparse: nothing is written
	f.Close()
	if _, err := LoadWith(huge, nil, 1); err == nil || err.Error() != huge+": 200 MiB is over the 1 MiB limit" {
		t.Errorf("a 200 MiB Procfile: %v", err)
	}
	envDir := t.TempDir()
	write(t, envDir, ".env", "A="+strings.Repeat("a", MaxFileSize)+"\n")
	cf := write(t, envDir, "Clusterfile", "env_file = \".env\"\n"+head)
	if _, err := LoadWith(cf, nil, 1); err == nil || !strings.Contains(err.Error(), "Clusterfile:1: env_file: .env: 1048579 bytes is over the 1 MiB limit") {
		t.Errorf("a dotenv file over the limit: %v", err)
	}
	// A file that grows after the stat is cut off at the limit.
	if _, err := readLimited(strings.NewReader(strings.Repeat("x", MaxFileSize+1)), "Clusterfile"); err == nil ||
		!strings.Contains(err.Error(), "Clusterfile: more than the 1 MiB limit") {
		t.Errorf("readLimited past the limit: %v", err)
	}
}

func TestCheckGlobMirrorsWatch(t *testing.T) {
	// Everything the watch package treats as a well-formed pattern.
	for _, g := range []string{"*.go", "src/**/*.js", "**", "**/", "**/x/**", "[]a]", "[a-]", "[!]a]", "[^a-z]", "[\\]]",
		"\\[x", "\\\\", "a\\*", "/x", "./x", "././x", "x/", "{a,b}", "é[à-ü]?", "[[]", "[a-z0-9_]", "a**b", "***"} {
		if err := checkGlob(g); err != nil {
			t.Errorf("checkGlob(%q): %v", g, err)
		}
	}
	// What it would match literally, or never.
	for _, g := range []string{"[", "[[[", "[]", "[!]", "[a", "[a-", "[a-\\", "[\\", "a\\", "", "/", "./", ".", "a/./b", "..", "a/../b", "a//b", "x/[y/z]"} {
		if err := checkGlob(g); err == nil {
			t.Errorf("checkGlob(%q) accepted it", g)
		}
	}
}

// An absolute watch or watch_ignore glob under the type's dir is made
// relative to it, as the watcher matches paths relative to dir; one outside
// dir could never match, and is an error naming file, line and key.
func TestAbsoluteGlobs(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "app"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("app", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	real, err := filepath.EvalSymlinks(dir) // written as the link's target
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "Clusterfile", fmt.Sprintf(`[process.web]
command = "x"
watch = [%q, %q, "lib/*"]
watch_ignore = [%q]
[process.api]
command = "x"
dir = "app"
watch = [%q]
[process.link]
command = "x"
dir = "link"
watch = [%q]
`, dir+"/src/*.js", dir+"/**", dir+"/src/gen/**", dir+"/app/x/*.go", real+"/app/y"))
	cfg, err := LoadWith(filepath.Join(dir, "Clusterfile"), nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	web, api, link := cfg.Processes[0], cfg.Processes[1], cfg.Processes[2]
	if !slices.Equal(web.Watch, []string{"src/*.js", "**", "lib/*"}) || !slices.Equal(web.WatchIgnore, []string{"src/gen/**"}) ||
		!slices.Equal(api.Watch, []string{"x/*.go"}) || !slices.Equal(link.Watch, []string{"y"}) {
		t.Errorf("web watch %q ignore %q, api watch %q, link watch %q", web.Watch, web.WatchIgnore, api.Watch, link.Watch)
	}

	write(t, dir, "Clusterfile", fmt.Sprintf(`[process.web]
command = "x"
watch = ["/elsewhere/src/*.js", "src/*.js"]
watch_ignore = [%q]
[process.api]
command = "x"
dir = "app"
watch = [%q, %q]
`, dir+"/src/[x", dir+"/src/*.js", dir+"/app"))
	_, err = LoadWith(filepath.Join(dir, "Clusterfile"), nil, 1)
	want := []string{
		`Clusterfile:3: process.web.watch: "/elsewhere/src/*.js": globs are relative to dir (` + dir + `), and this one is outside it`,
		`Clusterfile:4: process.web.watch_ignore: "` + dir + `/src/[x": "src/[x": unclosed character class in "[x" (write \[ for a literal [)`,
		`Clusterfile:8: process.api.watch: "` + dir + `/src/*.js": globs are relative to dir (` + dir + `/app), and this one is outside it`,
		`Clusterfile:8: process.api.watch: "` + dir + `/app": "": an empty glob matches nothing`,
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("error\n%v\nwant\n%s", err, strings.Join(want, "\n"))
	}
}

// A watch entry that ends in "/" means everything below it ("./lib/" is
// "lib/**"), as nodemon, air and watchexec take it; one with no wildcard is
// left as written, for the watcher matches it and what is below it whether
// it is a directory or not (watch.MatchWatch). watch_ignore is left as
// written (an ignore matching a directory already covers what is below).
func TestWatchDirectoryMeansBelowIt(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"src", "lib", "app/src", "a[1]"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(t, dir, "package.json", "{}")
	write(t, dir, "Clusterfile", fmt.Sprintf(`[process.web]
command = "x"
watch = ["src", "./lib/", "gen/", "package.json", "missing", "src/*.js", %q, "a[1]", "**/"]
watch_ignore = ["src", "dist/"]
[process.api]
command = "x"
dir = "app"
watch = ["src"]
`, dir+"/lib"))
	cfg, err := LoadWith(filepath.Join(dir, "Clusterfile"), nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	web, api := cfg.Processes[0], cfg.Processes[1]
	want := []string{"src", "lib/**", "gen/**", "package.json", "missing", "src/*.js", "lib", "a[1]", "**/**"}
	if !slices.Equal(web.Watch, want) {
		t.Errorf("web watch = %q, want %q", web.Watch, want)
	}
	if !slices.Equal(web.WatchIgnore, []string{"src", "dist/"}) {
		t.Errorf("web watch_ignore = %q, want it as written", web.WatchIgnore)
	}
	if !slices.Equal(api.Watch, []string{"src"}) {
		t.Errorf("api watch = %q, want [src]", api.Watch)
	}
}

// watch = ["lib"] reads the same whether lib exists at load or not, so a
// re-read after lib is made changes no watch setting. (It became "lib/**"
// only once lib existed: the re-read printed "watch settings changed".)
func TestWatchEntryDoesNotDependOnDisk(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "Clusterfile", `[process.web]
command = "x"
watch = ["lib"]
`)
	load := func() []string {
		t.Helper()
		cfg, err := LoadWith(filepath.Join(dir, "Clusterfile"), nil, 1)
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Processes[0].Watch
	}
	before := load()
	if err := os.MkdirAll(filepath.Join(dir, "lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	if after := load(); !slices.Equal(before, after) {
		t.Errorf("watch = %q before lib existed, %q after", before, after)
	}
}
