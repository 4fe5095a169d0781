package runner

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cluster-run/cluster/procfile"
)

// stuckOutput is an output nobody reads, as logmux on a pipe whose reader
// stopped: the first write of worker output blocks holding the output
// lock, and every write and event after it waits for that lock, until
// release.
type stuckOutput struct {
	mu      sync.Mutex // logmux's output lock
	release chan struct{}
	stuck   chan struct{} // closed once a write holds the lock for good
	once    sync.Once

	evMu   sync.Mutex
	events []string // written, in order
}

// stuckRun is a running runner whose output stops being read at its first
// write (stuckOutput), and the pid its one worker wrote to dir/pid.
type stuckRun struct {
	r      *Runner
	out    *stuckOutput
	done   chan error // Run's result
	cancel context.CancelFunc
	pid    int
}

// startStuck runs cfg into an output nobody reads, until its worker has
// printed and written its pid into dir/pid. The runner is killed, and the
// output released, when the test ends.
func startStuck(t *testing.T, cfg *procfile.Config, dir string) *stuckRun {
	t.Helper()
	out := newStuckOutput()
	t.Cleanup(func() { close(out.release) })
	r, err := New(Options{Config: cfg, Output: out, ReapAll: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(r.Kill)
	select {
	case <-out.stuck:
	case <-time.After(10 * time.Second):
		t.Fatal("no worker output within 10s")
	}
	waitFile(t, filepath.Join(dir, "pid"), 10*time.Second)
	b, _ := os.ReadFile(filepath.Join(dir, "pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return &stuckRun{r: r, out: out, done: done, cancel: cancel, pid: pid}
}

func newStuckOutput() *stuckOutput {
	return &stuckOutput{release: make(chan struct{}), stuck: make(chan struct{})}
}

func (o *stuckOutput) Stream(Stream) io.WriteCloser { return stuckWriter{o} }

func (o *stuckOutput) Event(e Event) {
	o.mu.Lock()
	o.evMu.Lock()
	o.events = append(o.events, e.Message)
	o.evMu.Unlock()
	o.mu.Unlock()
}

func (o *stuckOutput) written() []string {
	o.evMu.Lock()
	defer o.evMu.Unlock()
	return append([]string(nil), o.events...)
}

type stuckWriter struct{ o *stuckOutput }

func (w stuckWriter) Write(p []byte) (int, error) {
	w.o.mu.Lock()
	defer w.o.mu.Unlock()
	w.o.once.Do(func() { close(w.o.stuck) })
	<-w.o.release
	return len(p), nil
}

func (stuckWriter) Close() error { return nil }

// waitFile polls until path exists.
func waitFile(t *testing.T, path string, timeout time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
	t.Fatalf("%s did not appear within %s", path, timeout)
}

// An output nobody reads blocked every event, and with them the supervisor:
// a stop never reached the workers, and Run never returned. Now the stop
// signals them at once and Run returns within its bound: shutdown_timeout
// + hardGrace + outputSettle for a graceful stop, hardGrace + outputSettle
// after Kill.
func TestStopWithAnOutputNobodyReads(t *testing.T) {
	for _, tc := range []struct {
		name      string
		script    string
		shutdown  time.Duration
		immediate bool
	}{
		{"graceful", `trap 'echo got TERM >term; exit 0' TERM; echo $$ >pid; while :; do echo line; sleep 0.01; done`, time.Second, false},
		{"immediate", `trap '' TERM; echo $$ >pid; while :; do echo line; sleep 0.01; done`, 30 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := shProc("web", tc.script)
			p.Dir = dir
			p.Restart = procfile.RestartAlways
			p.StopTimeout = 20 * time.Second
			cfg := config(p)
			cfg.ShutdownTimeout = tc.shutdown
			s := startStuck(t, cfg, dir)
			r, out, done, cancel, pid := s.r, s.out, s.done, s.cancel, s.pid
			var err error

			t0 := time.Now()
			bound := tc.shutdown + hardGrace + outputSettle
			cancel()
			if tc.immediate {
				r.Kill()
				bound = hardGrace + outputSettle
			} else {
				waitFile(t, filepath.Join(dir, "term"), 5*time.Second) // SIGTERM reached it
			}
			select {
			case err = <-done:
			case <-time.After(bound + 10*time.Second):
				t.Fatalf("Run did not return within %s of the stop; events written: %q", bound+10*time.Second, out.written())
			}
			// Half a second of slack for a loaded machine.
			if took := time.Since(t0); took > bound+500*time.Millisecond {
				t.Errorf("Run returned %s after the stop, over its bound %s", took, bound)
			}
			if tc.immediate && !errors.Is(err, ErrKilled) {
				t.Errorf("Run = %v, want ErrKilled", err)
			}
			if alive(pid) {
				t.Errorf("worker %d still runs", pid)
				syscall.Kill(pid, syscall.SIGKILL)
			}
			if r.Unwritten() == 0 {
				t.Errorf("Unwritten = 0: the events after the output stuck were written? %q", out.written())
			}
		})
	}
}

// While the output works, an event is written before emit returns: events
// keep their order with the worker lines around them.
func TestEventsAreWrittenBeforeEmitReturns(t *testing.T) {
	rec := &recorder{}
	var m emitter
	m.out = rec
	for i := range 100 {
		m.emit(Event{Message: strconv.Itoa(i)})
		if got := rec.messages(); len(got) != i+1 || got[i] != strconv.Itoa(i) {
			t.Fatalf("after emit %d: %q", i, got)
		}
	}
	if n := m.flush(time.Now().Add(time.Second), nil); n != 0 {
		t.Errorf("flush: %d not written", n)
	}
}

// A stalled output: emit returns after eventStall at most, then at once; the
// queue is bounded, and what did not fit is said once the output moves.
func TestEventsQueueWhileTheOutputIsStalled(t *testing.T) {
	out := newStuckOutput()
	out.mu.Lock() // a worker's write holds the output
	var m emitter
	m.out = out
	t0 := time.Now()
	m.emit(Event{Message: "first"})
	if took := time.Since(t0); took < eventStall || took > eventStall+5*time.Second {
		t.Errorf("the first emit on a stalled output took %s, want about %s", took, eventStall)
	}
	t0 = time.Now()
	for i := range maxQueuedEvents + 10 {
		m.emit(Event{Message: strconv.Itoa(i)})
	}
	if took := time.Since(t0); took > 5*time.Second {
		t.Errorf("%d emits on a stalled output took %s", maxQueuedEvents+10, took)
	}
	if n := m.flush(time.Now().Add(50*time.Millisecond), nil); n != maxQueuedEvents+11 {
		t.Errorf("flush on a stalled output: %d not written, want %d", n, maxQueuedEvents+11)
	}
	out.mu.Unlock()
	if n := m.flush(time.Now().Add(10*time.Second), nil); n != 0 {
		t.Errorf("flush once the output moved: %d not written", n)
	}
	got := out.written()
	if len(got) != maxQueuedEvents+2 || got[0] != "first" || got[len(got)-1] != "10 events of the runner not written: the output was not read" {
		t.Errorf("written: %d events, first %q, last %q", len(got), got[0], got[len(got)-1])
	}
}
