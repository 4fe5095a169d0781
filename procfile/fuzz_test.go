package procfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fuzzers assert that no input panics or hangs, and that an accepted
// config is usable: every process has a command that splits.

func FuzzClusterfile(f *testing.F) {
	f.Add([]byte("[process.web]\ncommand = \"app --port $PORT\"\nworkers = 2\nlisten = \":8080\"\n"))
	f.Add([]byte("name = \"x\"\n[env]\nA = 1\n[process.a]\ncommand = \"a\"\nready = { log = \"up\", timeout = \"1s\" }\nwatch = [\"**/*.go\"]\n"))
	f.Add([]byte("[process.web]\nworker = 2\nstop_signal = \"HUPP\"\n"))
	f.Add([]byte("[process.web\ncommand = \""))
	f.Add([]byte("a.b.c = 1\n[process.'x'.env]\nK = \"\"\"\nmulti\n\"\"\"\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "Clusterfile")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Skip()
		}
		cfg, err := LoadWith(path, []string{"PATH=/bin"}, 2)
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatalf("empty error")
			}
			return
		}
		for _, p := range cfg.Processes {
			if _, err := p.Argv(p.Env); err != nil {
				t.Fatalf("accepted a process whose command does not split: %v", err)
			}
		}
	})
}

func FuzzProcfile(f *testing.F) {
	f.Add([]byte("web: bundle exec rails s -p $PORT\nworker: node jobs.js\n"))
	f.Add([]byte("# c\n\nweb: a\nweb: b\n"))
	f.Add([]byte("web: echo 'unterminated\n"))
	f.Add([]byte(":\n: x\nx:\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "Procfile")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Skip()
		}
		cfg, err := LoadWith(path, nil, 2)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, p := range cfg.Processes {
			if seen[p.Name] || p.Workers != 1 {
				t.Fatalf("bad process %+v", p)
			}
			seen[p.Name] = true
		}
	})
}

func FuzzDotenv(f *testing.F) {
	f.Add("A=1\nexport B='x'\nC=\"multi\nline $A\"\n# c\nD=${A:-z} # c\n")
	f.Add("A=\"\\\"\\n\\$\"\nB=$(id)`id`\n")
	f.Add("A=\"open\n")
	f.Add("=x\nexport\n")
	f.Fuzz(func(t *testing.T, src string) {
		pairs, err := ParseDotenv(strings.NewReader(src), ".env", nil)
		if err != nil {
			if !strings.HasPrefix(err.Error(), ".env:") {
				t.Fatalf("error without file and line: %v", err)
			}
			return
		}
		for _, kv := range pairs {
			if !validEnvKey(kv[0]) {
				t.Fatalf("accepted key %q", kv[0])
			}
		}
	})
}
