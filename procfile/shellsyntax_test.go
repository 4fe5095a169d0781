package procfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestShellSyntax(t *testing.T) {
	for _, c := range []struct{ cmd, want string }{
		{`node server.js --port $PORT`, ""},
		{`puma -p ${PORT:-5000}`, ""},
		{`bundle exec rails s -p $PORT && echo done`, "&&"},
		{`python worker.py 2>&1 | tee log`, "2>&1"},
		{`python worker.py | tee log`, "|"},
		{`cd api && npm start`, "cd"},
		{`RACK_ENV=production puma`, "VAR=value"},
		{`exec bundle exec puma`, "exec"},
		{`a || b`, "||"},
		{`a; b`, ";"},
		{`a > out.log`, ">"},
		{`a >> out.log`, ">>"},
		{`a < in`, "<"},
		{`sleep 1 &`, "&"},
		{`echo $(date)`, "$("},
		{"echo `date`", "`"},
		{`echo "$(date)"`, "$("},
		{`rm -f tmp/*`, "*"},
		{`ls ~/x`, "~"},
		{`echo 'a && b | c > d; $(e) *'`, ""},
		{`echo "a && b | c > d; *"`, ""},
		{`echo a\&\&b`, ""},
		{`sh -c 'echo hi; exit 1'`, ""},
		{`env A=1 node x`, ""},
		{`node --title=x=y`, ""},
		{`app # comment`, "#"},
		{`app a#b`, ""},
		{"a\nb", "a newline"},
		{`echo pid=$$`, "$$"},
		{`echo $1 $2`, "$1"},
		{`echo "$@"`, "$@"},
		{`echo $*`, "$*"},
		{`echo $#`, "$#"},
		{`echo $?`, "$?"},
		{`echo $!`, "$!"},
		{`echo $-`, "$-"},
		{`echo $0`, "$0"},
		{`echo ${A:-$1}`, "$1"},
		{`echo '$$ $1' \$$`, ""},
		{`echo costs $ 5`, ""},
	} {
		if got := shellSyntax(c.cmd); got != c.want {
			t.Errorf("shellSyntax(%q) = %q, want %q", c.cmd, got, c.want)
		}
	}
}

// A Procfile line with shell syntax runs through /bin/sh -c, whole; a plain
// one is exec'd directly. A Clusterfile with shell = false rejects it.
func TestProcfileShellRule(t *testing.T) {
	dir := t.TempDir()
	pf := filepath.Join(dir, "Procfile")
	os.WriteFile(pf, []byte("web: bundle exec rails s -p $PORT && echo done\nworker: python worker.py 2>&1 | tee log\napi: node api.js\nenvd: RACK_ENV=production puma\n"), 0o644)
	cfg, err := Load(pf)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"web":    {"/bin/sh", "-c", "bundle exec rails s -p $PORT && echo done"},
		"worker": {"/bin/sh", "-c", "python worker.py 2>&1 | tee log"},
		"api":    {"node", "api.js"},
		"envd":   {"/bin/sh", "-c", "RACK_ENV=production puma"},
	}
	for _, p := range cfg.Processes {
		argv, err := p.Argv(nil)
		if err != nil || strings.Join(argv, "\x00") != strings.Join(want[p.Name], "\x00") {
			t.Errorf("%s: argv %q (%v), want %q", p.Name, argv, err, want[p.Name])
		}
	}

	cf := filepath.Join(dir, "Clusterfile")
	os.WriteFile(cf, []byte("[process.web]\nworkers = 1\ncommand = \"bundle exec rails s && echo done\"\n[process.env]\nworkers = 1\ncommand = \"RACK_ENV=production puma\"\n[process.ok]\nworkers = 1\nshell = true\ncommand = \"a && b\"\n[process.pid]\nworkers = 1\ncommand = \"echo $$\"\n"), 0o644)
	_, err = Load(cf)
	for _, want := range []string{
		`Clusterfile:3: process.web.command: contains "&&": set shell = true or split it`,
		`Clusterfile:6: process.env.command: starts with a VAR=value assignment, which only a shell understands: move it to [process.env.env], or set shell = true`,
		`Clusterfile:13: process.pid.command: contains "$$", a parameter only a shell gives a value: set shell = true`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "process.ok") {
		t.Errorf("shell = true rejected: %v", err)
	}
}
