package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/cluster-run/cluster/procfile"
)

// runCLI runs the command line in-process, as the binary would.
func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, nil, &out, &errb)
	return code, out.String(), errb.String()
}

func TestHelpPrintedOnce(t *testing.T) {
	for _, name := range commandNames() {
		for _, h := range []string{"-h", "--help"} {
			code, out, errs := runCLI(name, h)
			if code != 0 || errs != "" {
				t.Errorf("cluster %s %s: exit %d, stderr %q", name, h, code, errs)
			}
			if n := strings.Count(out, "Usage: cluster "+name); n != 1 {
				t.Errorf("cluster %s %s: usage printed %d times:\n%s", name, h, n, out)
			}
		}
	}
}

func TestUsageErrorsAreOneLine(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"run", "--colr"}, "cluster run: unknown flag --colr (did you mean --color?); see cluster run -h\n"},
		{[]string{"run", "-colr", "never"}, "cluster run: unknown flag -colr (did you mean --color?); see cluster run -h\n"}, // as typed
		// A value glued to a one-letter flag is read as getopt reads it
		// (-n3 is -n 3); what cannot be is quoted as typed, not as --x3.
		{[]string{"logs", "-x3"}, "cluster logs: unknown flag -x3; see cluster logs -h\n"},
		{[]string{"logs", "-f3"}, "cluster logs: unknown flag -f3; see cluster logs -h\n"}, // -f is boolean in logs
		{[]string{"logs", "-nx"}, "cluster logs: invalid value \"x\" for -n: want N (-nx reads as -n x); see cluster logs -h\n"},
		{[]string{"run", "-wweb"}, "cluster run: invalid value \"web\" for -w: \"web\" is not PROCESS=N with N >= 0 (-wweb reads as -w web); see cluster run -h\n"},
		{[]string{"run", "-wacth"}, "cluster run: unknown flag -wacth (did you mean --watch?); see cluster run -h\n"},
		{[]string{"run", "--log"}, "cluster run: unknown flag --log (did you mean --log-format?); see cluster run -h\n"},
		{[]string{"check", "--nope"}, "cluster check: unknown flag --nope; see cluster check -h\n"},
		{[]string{"status", "--jsn"}, "cluster status: unknown flag --jsn (did you mean --json?); see cluster status -h\n"},
		{[]string{"run", "--port", "x"}, "cluster run: invalid value \"x\" for --port: want N; see cluster run -h\n"},
		{[]string{"run", "--port", "0"}, "cluster run: --port 0: want 1-65535; see cluster run -h\n"},
		{[]string{"run", "--color"}, "cluster run: --color needs a value (--color auto|always|never); see cluster run -h\n"},
		{[]string{"run", "--color", "blue"}, "cluster run: --color \"blue\": want auto, always or never; see cluster run -h\n"},
		{[]string{"run", "--watch=maybe"}, "cluster run: invalid value \"maybe\" for --watch: want true or false; see cluster run -h\n"},
		{[]string{"run", "-w", "web"}, "cluster run: invalid value \"web\" for -w: \"web\" is not PROCESS=N with N >= 0; see cluster run -h\n"},
		{[]string{"run", "--"}, "cluster run: -- needs a COMMAND; see cluster run -h\n"},
		{[]string{"version", "now"}, "cluster version: unexpected argument \"now\"; see cluster version -h\n"},
		{[]string{"scale", "web"}, "cluster scale: \"web\" is not PROCESS=N with N >= 0; see cluster scale -h\n"},
		{[]string{"restart"}, "cluster restart: missing PROCESS[.N]; see cluster restart -h\n"},
		{[]string{"restart", "web.x"}, "cluster restart: \"web.x\" is not PROCESS or PROCESS.N; see cluster restart -h\n"},
		{[]string{"signal", "web"}, "cluster signal: want PROCESS[.N] SIGNAL; see cluster signal -h\n"},
		{[]string{"stop", "web.1"}, "cluster stop: \"web.1\" is not a process type; see cluster stop -h\n"},
		{[]string{"completion", "tcsh"}, "cluster completion: unknown shell \"tcsh\": want bash, zsh or fish; see cluster completion -h\n"},
		{[]string{"sttaus"}, "cluster: unknown command \"sttaus\" (did you mean status?); see cluster -h\n"},
		{[]string{"--colour"}, "cluster: unknown flag --colour; flags go after the command; see cluster -h\n"},
	}
	for _, tt := range tests {
		code, out, errs := runCLI(tt.args...)
		if code != 2 || out != "" || errs != tt.want {
			t.Errorf("cluster %s: exit %d, stdout %q, stderr\n got  %q\n want %q", strings.Join(tt.args, " "), code, out, errs, tt.want)
		}
	}
	// Every command: an unknown flag is one line on stderr, nothing on stdout.
	for _, name := range commandNames() {
		code, out, errs := runCLI(name, "--no-such-flag")
		if code != 2 || out != "" || strings.Count(errs, "\n") != 1 || !strings.HasSuffix(errs, "; see cluster "+name+" -h\n") {
			t.Errorf("cluster %s --no-such-flag: exit %d, stdout %q, stderr %q", name, code, out, errs)
		}
	}
}

// What a foreman or honcho user types gets cluster's spelling, and cluster
// exec without -- says where it goes. Before, -m, -p, --env and --procfile
// were only unknown, and `cluster exec a echo hi` said "one PROCESS at most".
func TestForemanHabits(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/Procfile", []byte("a: sleep 100\nweb: sleep 100\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "-m", "web=2"}, "cluster run: unknown flag -m (foreman's -m is -w PROCESS=N,... here); see cluster run -h\n"},
		{[]string{"run", "-c", "web=2"}, "cluster run: unknown flag -c (foreman's -c is -w PROCESS=N,... here); see cluster run -h\n"},
		{[]string{"check", "--formation", "web=2"}, "cluster check: unknown flag --formation (foreman's --formation is -w PROCESS=N,... here); see cluster check -h\n"},
		{[]string{"run", "-p", "3000"}, "cluster run: unknown flag -p (foreman's -p is --port N here); see cluster run -h\n"},
		{[]string{"exec", "--env", ".env", "--", "true"}, "cluster exec: unknown flag --env (foreman's --env is -e FILE,... here); see cluster exec -h\n"},
		{[]string{"run", "--procfile", "Procfile"}, "cluster run: unknown flag --procfile (foreman's --procfile is -f FILE here); see cluster run -h\n"},
		{[]string{"exec", "-m", "web=2", "--", "true"}, "cluster exec: unknown flag -m; see cluster exec -h\n"}, // exec has no -w
		{[]string{"exec", "a", "echo", "hi"}, "cluster exec: want [PROCESS] -- COMMAND: put -- before the command: cluster exec a -- echo hi; see cluster exec -h\n"},
		{[]string{"exec", "echo", "hi there"}, "cluster exec: want [PROCESS] -- COMMAND: put -- before the command: cluster exec -- echo \"hi there\"; see cluster exec -h\n"},
		{[]string{"exec", "a"}, "cluster exec: want [PROCESS] -- COMMAND; see cluster exec -h\n"},
		{[]string{"exec", "a", "ls", "-la"}, "cluster exec: unknown flag -la; a command and its flags go after --: cluster exec [PROCESS] -- COMMAND [ARG ...]; see cluster exec -h\n"},
		// foreman's start is cluster run: start's errors say so.
		{[]string{"start"}, "cluster start: missing PROCESS (foreman's start is cluster run [PROCESS ...]); see cluster start -h\n"},
		{[]string{"start", "-m", "web=2"}, "cluster start: unknown flag -m (foreman's start is cluster run [PROCESS ...], where -m is -w PROCESS=N,...); see cluster start -h\n"},
		{[]string{"start", "--env", ".env", "web"}, "cluster start: unknown flag --env (foreman's start is cluster run [PROCESS ...], where --env is -e FILE,...); see cluster start -h\n"},
		{[]string{"start", "-e", ".env", "web"}, "cluster start: unknown flag -e (foreman's start is cluster run [PROCESS ...], which has -e FILE,...); see cluster start -h\n"},
		{[]string{"start", "--port", "3000"}, "cluster start: unknown flag --port (foreman's start is cluster run [PROCESS ...], which has --port N); see cluster start -h\n"},
		{[]string{"start", "--wiat"}, "cluster start: unknown flag --wiat; see cluster start -h\n"},
		{[]string{"stop", "-m", "web=2"}, "cluster stop: unknown flag -m; see cluster stop -h\n"},
	} {
		code, out, errs := runCLI(tt.args...)
		if code != 2 || out != "" || errs != tt.want {
			t.Errorf("cluster %s: exit %d, stdout %q, stderr\n got  %q\n want %q", strings.Join(tt.args, " "), code, out, errs, tt.want)
		}
	}
}

// `cluster start web` with no cluster running: foreman's start is run.
func TestForemanStartNotRunning(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/Procfile", []byte("web: sleep 100\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	t.Setenv("CLUSTER_SOCKET", dir+"/none.sock")
	code, out, errs := runCLI("start", "web")
	if code != 1 || out != "" || !strings.HasPrefix(errs, "cluster start: the cluster is not running") || !strings.HasSuffix(errs, " (foreman's start is cluster run [PROCESS ...])\n") {
		t.Errorf("cluster start web: exit %d, stdout %q, stderr %q; want exit 1 and the hint", code, out, errs)
	}
	// Other commands have no such hint.
	if code, _, errs := runCLI("stop", "web"); code != 1 || strings.Contains(errs, "foreman") {
		t.Errorf("cluster stop web: exit %d, stderr %q", code, errs)
	}
}

func TestVersionSpellings(t *testing.T) {
	_, want, _ := runCLI("version")
	if !strings.HasPrefix(want, "cluster ") {
		t.Fatalf("cluster version: %q", want)
	}
	for _, v := range []string{"--version", "-v"} {
		if code, out, errs := runCLI(v); code != 0 || out != want || errs != "" {
			t.Errorf("cluster %s: exit %d, stdout %q, stderr %q; want %q", v, code, out, errs, want)
		}
	}
}

func TestHelpSubcommand(t *testing.T) {
	_, want, _ := runCLI("scale", "-h")
	if code, out, _ := runCLI("help", "scale"); code != 0 || out != want {
		t.Errorf("cluster help scale: exit %d, %q", code, out)
	}
}

// helpFlags parses the Flags section of `cluster CMD -h` into flag specs
// ("-f FILE", "--json").
func helpFlags(t *testing.T, cmd string) []string {
	code, out, errs := runCLI(cmd, "-h")
	if code != 0 {
		t.Fatalf("cluster %s -h: exit %d: %s", cmd, code, errs)
	}
	var specs []string
	_, section, _ := strings.Cut(out, "\nFlags:\n")
	for _, l := range strings.Split(section, "\n") {
		if l = strings.TrimLeft(l, " "); strings.HasPrefix(l, "-") {
			spec, _, _ := strings.Cut(l, "  ")
			specs = append(specs, spec)
		}
	}
	slices.Sort(specs)
	return specs
}

// readmeSynopses parses the first code block of README's "## Commands" into
// each command's flag specs, as written in its synopsis ("[--port N]").
func readmeSynopses(t *testing.T) map[string][]string {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "\n## Commands\n")
	if !ok {
		t.Fatal(`README.md has no "## Commands" section`)
	}
	_, after, _ = strings.Cut(after, "```\n")
	block, _, _ := strings.Cut(after, "```")
	flagRe := regexp.MustCompile(`^--?[a-z][a-z0-9-]*$`)
	out := map[string][]string{}
	cmd := ""
	for _, line := range strings.Split(block, "\n") {
		if rest, ok := strings.CutPrefix(line, "cluster "); ok {
			cmd, line = strings.Fields(rest)[0], strings.TrimPrefix(strings.TrimSpace(rest), strings.Fields(rest)[0])
			out[cmd] = []string{}
		}
		words := strings.Fields(strings.NewReplacer("[", " [ ", "]", " ] ").Replace(line))
		for i, w := range words {
			if !flagRe.MatchString(w) {
				continue
			}
			spec := w
			if i+1 < len(words) && !strings.ContainsAny(words[i+1][:1], "[]|-") {
				spec += " " + words[i+1]
			}
			out[cmd] = append(out[cmd], spec)
		}
	}
	for _, specs := range out {
		slices.Sort(specs)
	}
	return out
}

// The README's synopsis of each command lists exactly the flags its -h
// shows, written the same way, and names every command.
func TestREADMEListsEveryFlag(t *testing.T) {
	readme := readmeSynopses(t)
	for _, name := range commandNames() {
		specs, ok := readme[name]
		if !ok {
			t.Errorf("README's Commands block has no line for cluster %s", name)
			continue
		}
		if help := helpFlags(t, name); !slices.Equal(specs, help) {
			t.Errorf("cluster %s: README lists %q, -h shows %q", name, specs, help)
		}
	}
	for name := range readme {
		if commandSummary(name) == "" {
			t.Errorf("README lists cluster %s, which is not a command", name)
		}
	}
}

func TestSuggest(t *testing.T) {
	flags := []string{"color", "log-format", "watch", "no-watch", "f", "w", "json"}
	for in, want := range map[string]string{
		"colr": "color", "clor": "color", "colour": "color", "log": "log-format", "wacth": "watch",
		"jsno": "json", "x": "", "metrics": "", "nowatch": "no-watch",
	} {
		if got := suggest(in, flags); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPlural(t *testing.T) {
	for _, tt := range []struct {
		n          int
		word, want string
	}{{0, "worker", "0 workers"}, {1, "worker", "1 worker"}, {2, "worker", "2 workers"}, {1, "crash", "1 crash"}, {3, "crash", "3 crashes"}, {2, "process type", "2 process types"}} {
		if got := plural(tt.n, tt.word); got != tt.want {
			t.Errorf("plural(%d, %q) = %q, want %q", tt.n, tt.word, got, tt.want)
		}
	}
}

// The argument checks of the control commands are plain functions (no
// pattern compiled at every start); they accept exactly what the patterns
// they replaced accepted.
func TestControlArgChecksMatchTheirPatterns(t *testing.T) {
	checks := []struct {
		name    string
		pattern string
		f       func(string) bool
	}{
		{"process", `^[A-Za-z0-9_-]+$`, procfile.ValidName},
		{"worker", `^[A-Za-z0-9_-]+(\.[0-9]+)?$`, workerArg},
		{"scale", `^[A-Za-z0-9_-]+=[0-9]+$`, scaleArg},
	}
	inputs := []string{"", "web", "web-1_x", "web.1", "web.", "web.12", "web.1.2", ".1", "web=3", "web=", "=3",
		"web=3x", "web =3", "wéb", "web\n", "w.b", "W9", "-", "_", "web.x", "web=03", "a=b=1", "web.1=2"}
	for _, c := range checks {
		re := regexp.MustCompile(c.pattern)
		for _, in := range inputs {
			if got, want := c.f(in), re.MatchString(in); got != want {
				t.Errorf("%s check of %q = %v, the pattern %s says %v", c.name, in, got, c.pattern, want)
			}
		}
	}
}

// fullOutput is a stdout on a full disk.
type fullOutput struct{ writes int }

func (f *fullOutput) Write(p []byte) (int, error) {
	f.writes++
	return 0, &os.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.ENOSPC}
}

// A command whose output cannot be written says so in one line on stderr
// and exits 1, as cat does, having tried only once.
func TestFailedOutputExits1(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "Clusterfile")
	if err := os.WriteFile(file, []byte("[process.web]\ncommand = \"sleep 1\"\nworkers = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const full = "write /dev/stdout: no space left on device"
	tests := []struct {
		args []string
		name string
	}{
		{[]string{"version"}, "version"},
		{[]string{"--version"}, "version"},
		{[]string{"-h"}, "help"},
		{[]string{"help", "run"}, "help"},
		{[]string{"run", "-h"}, "run"},
		{[]string{"status", "--help"}, "status"},
		{[]string{"check", "-f", file}, "check"},
		{[]string{"check", "--json", "-f", file}, "check"},
		{[]string{"export", "procfile", "-f", file}, "export"},
		{[]string{"export", "procfile", filepath.Join(dir, "out"), "-f", file}, "export"},
		{[]string{"completion", "bash"}, "completion"},
		{[]string{"completion", "--names", "-f", file}, "completion"},
	}
	for _, tt := range tests {
		out := &fullOutput{}
		var errb bytes.Buffer
		code := run(tt.args, nil, out, &errb)
		if want := "cluster " + tt.name + ": " + full + "\n"; code != 1 || errb.String() != want || out.writes != 1 {
			t.Errorf("cluster %s: exit %d, %d writes, stderr %q; want exit 1, 1 write, %q", strings.Join(tt.args, " "), code, out.writes, errb.String(), want)
		}
	}
}

// A PORT that is foreman's base and no port (abc, 70000, 0) is an error
// naming where it came from; before, it fell back to 5000 in silence.
// --port overrides it, and a cluster whose types all have listen (or their
// own PORT) does not use it.
func TestBadPortBase(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	os.WriteFile("Procfile", []byte("web: sleep 100\n"), 0o644)
	os.WriteFile(".env", []byte("A=1\nPORT=abc\n"), 0o644)
	code, _, errs := runCLI("check")
	if want := ".env:2: PORT: \"abc\" is not a port (want 1-65535): it is the base of foreman's PORT numbering; fix it, or give --port\n"; code != 2 || errs != want {
		t.Errorf("PORT=abc in .env: exit %d, stderr %q, want %q", code, errs, want)
	}
	if code, _, errs := runCLI("check", "--port", "6000"); code != 0 {
		t.Errorf("with --port: exit %d, %s", code, errs)
	}
	os.WriteFile(".env", []byte("PORT=\n"), 0o644)
	if code, _, errs := runCLI("check"); code != 0 {
		t.Errorf("an empty PORT is as good as unset: exit %d, %s", code, errs)
	}
	os.Remove(".env")
	t.Setenv("PORT", "70000")
	code, _, errs = runCLI("check") // not exec: it would replace this process
	if want := "PORT in the environment: \"70000\" is not a port (want 1-65535): it is the base of foreman's PORT numbering; fix it, or give --port\n"; code != 2 || errs != want {
		t.Errorf("PORT=70000 in the environment: exit %d, stderr %q, want %q", code, errs, want)
	}
	os.WriteFile("Clusterfile", []byte("[env]\nPORT = \"0\"\n[process.web]\ncommand = \"sleep 100\"\nworkers = 1\n"), 0o644)
	code, _, errs = runCLI("check")
	if want := "Clusterfile:2: env.PORT: \"0\" is not a port"; code != 2 || !strings.HasPrefix(errs, want) {
		t.Errorf("PORT = \"0\" in [env]: exit %d, stderr %q, want %q", code, errs, want)
	}
	os.WriteFile("Clusterfile", []byte("[env]\nPORT = \"0\"\n[process.web]\ncommand = \"sleep 100\"\nworkers = 1\nlisten = \"127.0.0.1:0\"\n"), 0o644)
	if code, _, errs := runCLI("check"); code != 0 {
		t.Errorf("no type uses the base: exit %d, %s", code, errs)
	}
}

// TestUnglueClustered: one-letter booleans clustered, the last maybe a flag
// with a value, are split as getopt and tail split them (logs -fn100);
// what is not such a cluster stays whole for the flag package's error.
func TestUnglueClustered(t *testing.T) {
	fs := commandFlags("logs")
	for _, c := range []struct{ in, want []string }{
		{[]string{"-fn100", "web"}, []string{"-f", "-n", "100", "web"}},
		{[]string{"-fn", "5", "web"}, []string{"-f", "-n", "5", "web"}},
		{[]string{"-fn", "-5"}, []string{"-f", "-n", "-5"}},
		{[]string{"-n3"}, []string{"-n", "3"}},
		{[]string{"-f3"}, []string{"-f3"}},
		{[]string{"-fx"}, []string{"-fx"}},
		{[]string{"-f"}, []string{"-f"}},
	} {
		if got := unglue(fs, c.in); !slices.Equal(got, c.want) {
			t.Errorf("unglue(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	// And the whole command line: -fn100 is a flag set it parses.
	if code, _, stderr := runCLI("logs", "-fn100", "--file", filepath.Join(t.TempDir(), "nosuch")); strings.Contains(stderr, "unknown flag") {
		t.Errorf("logs -fn100: %d %q", code, stderr)
	}
}

// TestGluedForemanFlags: foreman's -m/-c and -p with the value glued get
// the hint their spaced forms get.
func TestGluedForemanFlags(t *testing.T) {
	for args, want := range map[string]string{
		"start -mweb=2": "cluster start: unknown flag -mweb=2 (foreman's start is cluster run [PROCESS ...], where -m is -w PROCESS=N,...); see cluster start -h\n",
		"start -p5000":  "cluster start: unknown flag -p5000 (foreman's start is cluster run [PROCESS ...], where -p is --port N); see cluster start -h\n",
		"run -cweb=2":   "cluster run: unknown flag -cweb=2 (foreman's -c is -w PROCESS=N,... here); see cluster run -h\n",
		"start -pfoo":   "cluster start: unknown flag -pfoo; see cluster start -h\n",
	} {
		if _, _, stderr := runCLI(strings.Fields(args)...); stderr != want {
			t.Errorf("%s: %q, want %q", args, stderr, want)
		}
	}
}
