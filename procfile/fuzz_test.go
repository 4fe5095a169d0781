package procfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fuzzers assert that no input panics or hangs, and that an accepted
// config is usable: every process has a command that splits, and nothing in
// it breaks a limit Load enforces (see checkAccepted).

func FuzzClusterfile(f *testing.F) {
	f.Add([]byte("[process.web]\ncommand = \"app --port $PORT\"\nworkers = 2\nlisten = \":8080\"\n"))
	f.Add([]byte("name = \"x\"\n[env]\nA = 1\n[process.a]\ncommand = \"a\"\nready = { log = \"up\", timeout = \"1s\" }\nwatch = [\"**/*.go\"]\n"))
	f.Add([]byte("[process.web]\nworker = 2\nstop_signal = \"HUPP\"\n"))
	f.Add([]byte("[process.web\ncommand = \""))
	f.Add([]byte("a.b.c = 1\n[process.'x'.env]\nK = \"\"\"\nmulti\n\"\"\"\n"))
	f.Add([]byte("[env]\n\"A=B\" = \"x\\u0000\"\n\"\" = 1\n[process.w]\ncommand = \"a ${A:-${B:-c}} ${D\"\nworkers = 4294967297\n"))
	f.Add([]byte("shutdown_timeout = \"0s\"\n[process.w]\ncommand = \"a\"\nready = { delay = \"2s\", timeout = \"1s\" }\nrestart_window = \"0s\"\nwatch_poll = \"-1s\"\n"))
	f.Add([]byte("[process.w]\ncommand = \"a\"\nmax_memory = \"99999999999999999999GiB\"\nwatch = [\"[[[\", \"src/**/*.go\", \"[]a]\", \"x\\\\\"]\nwatch_ignore = [\"../x\", \"\"]\n"))
	f.Add([]byte("[process.a]\ncommand = \"a\"\nworkers = 1024\n[process.b]\ncommand = \"b\"\nworkers = 1024\n[process.c]\ncommand = \"c\"\nworkers = 1024\n[process.d]\ncommand = \"d\"\nworkers = 1024\n[process.e]\ncommand = \"e\"\nworkers = 1\n"))
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
		checkAccepted(t, cfg)
	})
}

// checkAccepted fails when a config Load accepted breaks one of its rules.
func checkAccepted(t *testing.T, cfg *Config) {
	t.Helper()
	total := 0
	if cfg.ShutdownTimeout <= 0 {
		t.Fatalf("accepted shutdown_timeout %s", cfg.ShutdownTimeout)
	}
	for _, p := range cfg.Processes {
		argv, err := p.Argv(p.Env)
		if err != nil {
			t.Fatalf("accepted a process whose command does not split: %v", err)
		}
		if ArgSize(argv, p.Env) > ArgMax {
			t.Fatalf("accepted a command and env of %d bytes", ArgSize(argv, p.Env))
		}
		for _, s := range append(argv, p.Env...) {
			if strings.IndexByte(s, 0) >= 0 || len(s)+1 > ArgStrMax {
				t.Fatalf("accepted an argument or variable exec cannot take: %q", s)
			}
		}
		for _, kv := range p.Env {
			if k, _, _ := strings.Cut(kv, "="); k == "" {
				t.Fatalf("accepted an empty variable name: %q", kv)
			}
		}
		if p.Workers < 0 || p.Workers > MaxWorkers {
			t.Fatalf("accepted workers = %d", p.Workers)
		}
		total += p.Workers
		if p.StopTimeout <= 0 || p.RestartWindow <= 0 || p.WatchPoll < 0 || p.MaxMemory < 0 ||
			p.Ready.Timeout <= 0 || p.Ready.Delay < 0 || p.Ready.Kind == ReadyDelay && p.Ready.Delay >= p.Ready.Timeout {
			t.Fatalf("accepted a duration or size out of range: %+v", p)
		}
		for _, g := range append(p.Watch, p.WatchIgnore...) {
			if err := checkGlob(g); err != nil {
				t.Fatalf("accepted glob: %v", err)
			}
		}
	}
	if total > MaxTotalWorkers {
		t.Fatalf("accepted %d workers in all", total)
	}
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
		checkAccepted(t, cfg)
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
	f.Add("C=bee\nB=${B:-${C}}\nD=${B:-${C}\n")
	f.Add("A=\"${N-${M:-x\\}y}}\"\nB=${1}${A:?e}\nC='\x00'\n")
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
			if strings.IndexByte(kv[1], 0) >= 0 {
				t.Fatalf("accepted a NUL byte in %s", kv[0])
			}
		}
	})
}
