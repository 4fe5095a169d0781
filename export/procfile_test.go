package export

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cluster-run/cluster/procfile"
)

// The exported Procfile runs every type with the same arguments as the
// Clusterfile: each command is run for real, from both files, and their
// output compared.
func TestExportProcfileRunsTheSameCommands(t *testing.T) {
	cfg := load(t, "app", "Clusterfile", `[env]
G = "hi  there"
[process.shell]
command = "X=1; printf '[%s]' $X \"$G\" 'it'\"'\"'s' $G"
shell = true
[process.lines]
command = """
printf '[%s]' one
printf '[%s]' 'two 100% \\\\ \\\\n' "$G"
"""
shell = true
[process.direct]
command = "printf '[%s]' --name $G \"a b\" ${G} \"$G\" '$G' \\\\$HOME x$G"
[process.own]
command = "printf '[%s]' $OWN"
env = { OWN = "a b" }
`)
	text, lost, err := Procfile(cfg, testOSEnv)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"[env]: no place in a Procfile for G (set them in .env)",
		"own: no place in a Procfile for env (OWN)",
	} {
		if !strings.Contains(strings.Join(lost, "\n"), want) {
			t.Errorf("lost = %q, want %q", lost, want)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Procfile"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	// What the Procfile cannot hold comes from the environment instead.
	exported, err := procfile.LoadWith(filepath.Join(dir, "Procfile"), append(testOSEnv, "G=hi  there", "OWN=a b"), 4)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	run := func(p *procfile.Process) string {
		t.Helper()
		argv, err := p.Argv(p.Env)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = p.Env
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %q: %v", p.Name, argv, err)
		}
		return string(out)
	}
	if len(exported.Processes) != len(cfg.Processes) {
		t.Fatalf("%d types exported, want %d:\n%s", len(exported.Processes), len(cfg.Processes), text)
	}
	for i, p := range cfg.Processes {
		want, got := run(p), run(exported.Processes[i])
		if got != want || want == "" {
			t.Errorf("%s: the Procfile line prints %q, the Clusterfile %q\n%s", p.Name, got, want, text)
		}
	}
}
