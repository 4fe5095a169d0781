package runner

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// When shutdown_timeout passes, only a process that still runs makes the
// stop a kill (ErrKilled, exit 1). A worker that exited on its stop_signal
// while its last lines still wait for an output nobody reads stopped in
// time: its slot stays live until report gives that output up (outputGrace
// after the exit, longer than the shutdown_timeout here), and it used to be
// counted as not stopped. One that ignores the signal is still killed.
func TestShutdownTimeoutCountsOnlyRunningProcesses(t *testing.T) {
	const shutdown = 1500 * time.Millisecond // < outputGrace: the exited worker's slot is live when it passes
	if shutdown >= outputGrace {
		t.Fatalf("shutdown %s must be shorter than outputGrace %s", shutdown, outputGrace)
	}
	for _, tc := range []struct {
		name   string
		script string
		killed bool
	}{
		{"exited", `trap 'echo got TERM >term; exit 0' TERM; echo $$ >pid; while :; do echo line; sleep 0.01; done`, false},
		{"running", `trap 'echo got TERM >term' TERM; echo $$ >pid; while :; do echo line; sleep 0.01; done`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := shProc("web", tc.script)
			p.Dir = dir
			p.StopTimeout = 20 * time.Second // past shutdown_timeout: only the cluster's bound applies
			cfg := config(p)
			cfg.ShutdownTimeout = shutdown
			s := startStuck(t, cfg, dir)
			r, out, done, cancel, pid := s.r, s.out, s.done, s.cancel, s.pid
			var err error
			defer syscall.Kill(-pid, syscall.SIGKILL)

			cancel()
			waitFile(t, filepath.Join(dir, "term"), 5*time.Second) // SIGTERM reached it
			bound := shutdown + hardGrace + outputSettle
			select {
			case err = <-done:
			case <-time.After(bound + 10*time.Second):
				t.Fatalf("Run did not return within %s of the stop", bound+10*time.Second)
			}
			if tc.killed {
				if !errors.Is(err, ErrKilled) {
					t.Errorf("a worker still running at shutdown_timeout: Run = %v, want ErrKilled", err)
				}
			} else if err != nil {
				t.Errorf("a worker that exited on SIGTERM, its last lines unread: Run = %v, want nil (it stopped in time)", err)
			}
			if alive(pid) {
				t.Errorf("worker %d still runs", pid)
			}
			// The lines that could not be written are not lost silently:
			// Run counts the events behind them, which main says on stderr.
			if r.Unwritten() == 0 {
				t.Errorf("Unwritten = 0 with an output nobody reads; written: %q", out.written())
			}
		})
	}
}
