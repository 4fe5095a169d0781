package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cluster-run/cluster/procfile"
)

// An executable script without "#!" runs through /bin/sh, as POSIX execvp,
// sh and foreman's sh -c run it; before, the worker could not start (exec
// format error) and was retried forever. Both ways a worker starts keep
// what the worker is: forked straight into its program (a type without
// listen) and through the exec shim (inherit mode), where LISTEN_PID must
// still be the pid of the process that reads the socket. A binary for
// another machine is no script: its error stands.
func TestScriptWithoutShebang(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "s.sh")
	body := "echo \"hi $1 pid=$$ group=$(ps -o pgid= -p $$ | tr -d ' ') listen=${LISTEN_PID:-none}\"\nexec sleep 1000\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	elf := filepath.Join(dir, "elf")
	if err := os.WriteFile(elf, []byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00echo no\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	plain := shProc("plain", "")
	plain.Shell, plain.Command, plain.Dir = false, "./s.sh x", dir
	inherit := shProc("inherit", "")
	inherit.Shell, inherit.Command, inherit.Dir = false, script+" y", dir
	inherit.Listen = []procfile.Address{{Network: "tcp", Addr: "127.0.0.1:0", Raw: "127.0.0.1:0"}}
	rn := start(t, Options{Config: config(plain, inherit)})
	line := rn.rec.waitLine(t, `^plain\.1 stdout: hi x `, 15*time.Second)
	if f := strings.Fields(line); len(f) != 7 || f[4] != "pid="+strings.TrimPrefix(f[5], "group=") || f[6] != "listen=none" {
		t.Errorf("forked straight: %q, want its own process group (pgid = pid)", line)
	}
	line = rn.rec.waitLine(t, `^inherit\.1 stdout: hi y `, 15*time.Second)
	if f := strings.Fields(line); len(f) != 7 || f[4] != "pid="+strings.TrimPrefix(f[5], "group=") || f[4] != "pid="+strings.TrimPrefix(f[6], "listen=") {
		t.Errorf("through the shim: %q, want pgid = LISTEN_PID = pid", line)
	}
	for _, m := range rn.rec.messages() {
		if strings.Contains(m, "could not start") {
			t.Errorf("event %q", m)
		}
	}

	binary := shProc("binary", "")
	binary.Shell, binary.Command, binary.Dir = false, "./elf", dir
	rb := start(t, Options{Config: config(binary)})
	rb.waitEvents(t, "binary failed", 1, 15*time.Second)
	// Forked straight, the fork fails; through the shim (every worker on
	// the portable path), the shim says why and exits 126.
	lines, _ := rb.rec.snapshot()
	events := rb.rec.messages()
	said := strings.Join(lines, "\n") + "\n" + strings.Join(events, "\n")
	if !strings.Contains(said, "exec format error") || len(lines) > 1 {
		t.Errorf("a binary for another machine: lines %q, events %q; want exec format error, not sh reading it", lines, events)
	}
}
