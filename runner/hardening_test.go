package runner

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cluster-run/cluster/procfile"
)

// A grandchild that leaves its worker's session (setsid) and ignores TERM
// and HUP holds the worker's stdout: the stop still ends within
// shutdown_timeout + 2s, the escapee is SIGKILLed and named, and Run says a
// kill was needed.
func TestStopIsBoundedWithEscapedGrandchild(t *testing.T) {
	p := shProc("web", `trap "" TERM; setsid sh -c 'trap "" TERM HUP; echo "escapee $$"; exec sleep 1000' & echo up; wait`)
	p.StopTimeout = 300 * time.Millisecond
	cfg := config(p)
	cfg.ShutdownTimeout = time.Second
	rn := start(t, Options{Config: cfg})
	line := rn.rec.waitLine(t, `escapee \d+`, 5*time.Second)
	pid := pidsIn(t, line)[0]
	if Portable {
		// Without a subreaper the escapee is init's, out of the runner's
		// reach: the bound still holds, the kill of the escapee does not.
		t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	}
	rn.rec.waitLine(t, `up`, 5*time.Second)
	t0 := time.Now()
	rn.cancel()
	err := rn.wait(t, 10*time.Second)
	took := time.Since(t0)
	t.Logf("stop took %s with shutdown_timeout %s", took, cfg.ShutdownTimeout)
	if took > cfg.ShutdownTimeout+2*time.Second {
		t.Errorf("stop took %s, want at most shutdown_timeout + 2s", took)
	}
	if !errors.Is(err, ErrKilled) {
		t.Errorf("Run = %v, want ErrKilled", err)
	}
	if Portable {
		t.Logf("portable build: escapee %d left running (no subreaper), as documented", pid)
		return
	}
	if exists(pid) {
		t.Errorf("escapee %d still exists", pid)
	}
	named := false
	for _, m := range rn.rec.messages() {
		if strings.Contains(m, "SIGKILLed processes left behind") && strings.Contains(m, strconv.Itoa(pid)) {
			named = true
		}
	}
	if !named {
		t.Errorf("no event names the escapee %d: %q", pid, rn.rec.messages())
	}
}

// Something outside our reach holds a worker's stdout open for ever (here:
// the test process itself, through /proc/PID/fd/1): copying its output is
// cut at the hard stop, so Run still returns within the bound.
func TestStopIsBoundedWhenOutputStaysOpen(t *testing.T) {
	p := shProc("web", `echo "pid $$"; exec sleep 1000`)
	cfg := config(p)
	cfg.ShutdownTimeout = 500 * time.Millisecond
	rn := start(t, Options{Config: cfg})
	pid := pidsIn(t, rn.rec.waitLine(t, `pid \d+`, 5*time.Second))[0]
	held, err := os.OpenFile("/proc/"+strconv.Itoa(pid)+"/fd/1", os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	t0 := time.Now()
	rn.cancel()
	rn.wait(t, 10*time.Second)
	if took := time.Since(t0); took > cfg.ShutdownTimeout+2*time.Second {
		t.Errorf("stop took %s, want at most shutdown_timeout + 2s", took)
	}
}

// Leftovers get stop_signal grace only until shutdown_timeout, not a fixed 5s.
func TestLeftoverGraceFollowsShutdownTimeout(t *testing.T) {
	skipPortable(t, "a leftover that left its session is re-parented to init, out of reach")
	// The worker exits at once on TERM; its setsid child ignores TERM.
	p := shProc("web", `setsid sh -c 'trap "" TERM HUP; echo "left $$"; exec sleep 1000' & echo up; wait`)
	cfg := config(p)
	cfg.ShutdownTimeout = 700 * time.Millisecond
	stopLeftover(t, cfg, 10*time.Second, cfg.ShutdownTimeout+2*time.Second, ", want at most shutdown_timeout + 2s")
}

// stopLeftover runs cfg until its worker's leftover prints "left PID", stops
// the run (waiting for it up to wait) and checks that the stop took at most
// max (else "stop took T"+tooLong) and SIGKILLed the leftover.
func stopLeftover(t *testing.T, cfg *procfile.Config, wait, max time.Duration, tooLong string) {
	t.Helper()
	rn := start(t, Options{Config: cfg})
	pid := pidsIn(t, rn.rec.waitLine(t, `left \d+`, 5*time.Second))[0]
	t0 := time.Now()
	rn.cancel()
	err := rn.wait(t, wait)
	if took := time.Since(t0); took > max {
		t.Errorf("stop took %s"+tooLong, took)
	}
	if !errors.Is(err, ErrKilled) || exists(pid) {
		t.Errorf("Run = %v, leftover %d exists: %v", err, pid, exists(pid))
	}
}

// A leftover gets its own type's stop_signal (found by CLUSTER_PROCESS in
// its environment) and SIGKILL after that type's stop_timeout, not SIGTERM
// and shutdown_timeout.
func TestLeftoverGetsItsTypesStopSignalAndTimeout(t *testing.T) {
	skipPortable(t, "a leftover that left its session is re-parented to init, out of reach")
	t.Run("stop_signal", func(t *testing.T) {
		p := shProc("web", `setsid sh -c 'trap "echo got-usr1; exit 0" USR1; trap "" TERM HUP; echo "left $$"; while :; do sleep 0.05; done' & echo up; wait`)
		p.StopSignal = syscall.SIGUSR1
		rn := start(t, Options{Config: config(p)})
		rn.rec.waitLine(t, `left \d+`, 5*time.Second)
		rn.cancel()
		if err := rn.wait(t, 20*time.Second); err != nil {
			t.Errorf("Run = %v, want a clean stop; events %q", err, rn.rec.messages())
		}
		if lines, _ := rn.rec.snapshot(); !slices.Contains(lines, "web.1 stdout: got-usr1") {
			t.Errorf("the leftover did not get SIGUSR1, its type's stop_signal: %q", lines)
		}
	})
	t.Run("stop_timeout", func(t *testing.T) {
		p := shProc("web", `setsid sh -c 'trap "" TERM HUP; echo "left $$"; exec sleep 1000' & echo up; wait`)
		p.StopTimeout = 300 * time.Millisecond
		cfg := config(p)
		cfg.ShutdownTimeout = 60 * time.Second
		stopLeftover(t, cfg, 70*time.Second, 20*time.Second, ": the leftover waited for shutdown_timeout, not its type's stop_timeout")
	})
}

// Scaling every type to 0 keeps the runner and its socket: a connection
// made meanwhile waits in the queue and is served once the type is scaled up.
func TestScaleEverythingToZeroKeepsSockets(t *testing.T) {
	p := helperProc("web", procfile.SocketInherit, 1)
	rn := start(t, Options{Config: config(p)})
	rn.waitEvents(t, " ready", 1, 20*time.Second)
	addr := rn.addr(t, "web")
	if _, err := rn.r.Scale("web", 0); err != nil {
		t.Fatal(err)
	}
	rn.waitEvents(t, "web.1 exited", 1, 10*time.Second)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("connection refused after scaling to 0: %v", err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET / HTTP/1.0\r\n\r\n")
	select {
	case err := <-rn.done:
		rn.done <- err
		t.Fatalf("Run returned after scaling everything to 0: %v", err)
	default:
	}
	if _, err := rn.r.Scale("web", 1); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	status, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.Contains(status, "200") {
		t.Fatalf("queued request: %q, %v", status, err)
	}
}

// "web.0" is not "every worker of web": indexes are 1-based.
func TestWorkerIndexesAreOneBased(t *testing.T) {
	p := shProc("web", `sleep 1000`)
	p.Workers = 2
	rn := start(t, Options{Config: config(p)})
	rn.waitEvents(t, "started", 2, 10*time.Second)
	for _, target := range []string{"web.0", "web.3", "web.x", "web.-1"} {
		if did, err := rn.r.Signal(target, syscall.SIGKILL); err == nil {
			t.Errorf("signal %s: no error, did %v", target, did)
		}
		if did, err := rn.r.Restart(target); err == nil {
			t.Errorf("restart %s: no error, did %v", target, did)
		}
	}
	st := statusOf(t, rn)
	for _, w := range st.Workers {
		if w.PID == 0 || w.Restarts != 0 {
			t.Errorf("a worker was touched: %+v", w)
		}
	}
}

// A worker killed by a signal shows the signal in status, not -1.
func TestStatusShowsKillingSignal(t *testing.T) {
	p := shProc("web", `echo "pid $$"; exec sleep 1000`)
	p.Restart = procfile.RestartAlways
	rn := start(t, Options{Config: config(p)})
	pid := pidsIn(t, rn.rec.waitLine(t, `pid \d+`, 5*time.Second))[0]
	syscall.Kill(pid, syscall.SIGKILL)
	st := rn.waitStatus(t, func(st Status) bool {
		return len(st.Workers) == 1 && st.Workers[0].LastSignal != ""
	}, "a last signal")
	if w := st.Workers[0]; w.LastSignal != "SIGKILL" || w.LastExit != nil {
		t.Errorf("last exit %v, last signal %q; want SIGKILL", w.LastExit, w.LastSignal)
	}
}

// restart = "always" and a clean exit after a run of quickExit or more:
// restarted after the short fixed pause, not backed off like a crash.
func TestCleanExitIsNotBackedOff(t *testing.T) {
	old := quickExit
	quickExit = time.Nanosecond // every run is long enough
	t.Cleanup(func() { quickExit = old })
	p := shProc("web", `echo run`)
	p.Restart = procfile.RestartAlways
	rn := start(t, Options{Config: config(p)})
	rn.waitEvents(t, "restarting in", 6, 10*time.Second)
	said := regexp.MustCompile(`^web\.1 exited cleanly after \d+ms; restarting in 100ms \(restart = "always"\)$`)
	for _, m := range rn.rec.messages() {
		if strings.Contains(m, "restarting in") && !said.MatchString(m) {
			t.Errorf("clean exit backed off: %s", m)
		}
	}
}

// restart = "always" and a clean exit at once (`true`, a program that
// daemonises): the backoff grows as for a crash, but the type does not fail
// for it. Before, it restarted every 100 ms forever.
func TestQuickCleanExitIsBackedOff(t *testing.T) {
	p := shProc("web", `true`)
	p.Shell, p.Command = false, "true"
	p.Restart = procfile.RestartAlways
	p.MaxRestarts = 2 // a crash loop this long would have failed it
	rn := start(t, Options{Config: config(p)})
	rn.waitEvents(t, "restarting in", 5, 30*time.Second)
	msgs := rn.rec.messages()
	said := regexp.MustCompile(`^web\.1 exited cleanly after \d+ms; restarting in \S+ \(restart = "always"\)$`)
	for _, m := range msgs {
		if strings.Contains(m, "failed") {
			t.Errorf("a worker that exits 0 failed its type: %s", m)
		}
		if strings.Contains(m, "restarting in") && !said.MatchString(m) {
			t.Errorf("event %q, want %s", m, said)
		}
	}
	ds := delays(msgs)
	for i, d := range ds[:5] {
		base := backoffMin << i // 100ms doubling, ±20% jitter
		if d < base*8/10 || d > base*12/10 {
			t.Errorf("restart %d after %s, want %s ±20%%; delays %v", i+1, d, base, ds)
		}
	}
}

// A worker gets fds 0, 1, 2 and its sockets: nothing the runner inherited
// without close-on-exec.
func TestWorkerGetsNoStrayDescriptors(t *testing.T) {
	fd, err := syscall.Open("/etc/hostname", syscall.O_RDONLY, 0) // no O_CLOEXEC, as a parent shell would leave it
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	for _, pty := range []bool{true, false} {
		t.Run(fmt.Sprintf("pty=%v", pty), func(t *testing.T) {
			// exec'd so the listing is the worker's own table, not a subshell's.
			p := shProc("web", `exec ls -1 /proc/self/fd`)
			rn := start(t, Options{Config: config(p), NoPTY: !pty})
			rn.wait(t, 10*time.Second)
			lines, _ := rn.rec.snapshot()
			var fds []string
			for _, l := range lines {
				if _, v, ok := strings.Cut(l, "stdout: "); ok {
					fds = append(fds, v)
				}
			}
			// ls opens the directory it lists: one more fd, at 3. Started
			// without the exec shim, a worker holds its terminal at 255.
			sort.Slice(fds, func(i, j int) bool { a, _ := strconv.Atoi(fds[i]); b, _ := strconv.Atoi(fds[j]); return a < b })
			want := "0 1 2 3"
			if pty && !Portable {
				want += " 255"
			}
			if got := strings.Join(fds, " "); got != want {
				t.Errorf("worker fds %v, want %s (ls's own 3); stray fd %d was %v", fds, want, fd, fds)
			}
		})
	}
}

// A worker reading its terminal gets EOF at once; what it writes to
// /dev/tty reaches its log, also past the 4 KB a pty buffers.
func TestWorkerTerminalNeverBlocks(t *testing.T) {
	p := shProc("web", `read x </dev/tty; echo "read=$?"; echo hello-tty >/dev/tty; i=0; while [ $i -lt 200 ]; do echo "0123456789012345678901234567890123456789 $i" >/dev/tty; i=$((i+1)); done; echo done`)
	rn := start(t, Options{Config: config(p)})
	if err := rn.wait(t, 10*time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
	lines, _ := rn.rec.snapshot()
	got := strings.Join(lines, "\n")
	for _, want := range []string{"web.1 stdout: read=1", "web.1 tty: hello-tty", "web.1 tty: 0123456789012345678901234567890123456789 199", "web.1 stdout: done"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}

// Every worker gets PYTHONUNBUFFERED=1 unless its env sets it: a Python
// worker's lines show as they are printed, not at exit (or never, at a kill).
func TestPythonUnbuffered(t *testing.T) {
	set := shProc("set", `echo "py=${PYTHONUNBUFFERED-unset}"`)
	set.Env = append(withoutVar(os.Environ(), "PYTHONUNBUFFERED"), "PYTHONUNBUFFERED=0")
	dflt := shProc("dflt", `echo "py=${PYTHONUNBUFFERED-unset}"`)
	dflt.Env = withoutVar(os.Environ(), "PYTHONUNBUFFERED")
	procs := []*procfile.Process{set, dflt}
	python, err := exec.LookPath("python3")
	if err == nil {
		py := shProc("py", "")
		py.Shell, py.Command = false, python+` -c "import time; print('early', flush=False); time.sleep(1000)"`
		py.Env = dflt.Env
		procs = append(procs, py)
	}
	rn := start(t, Options{Config: config(procs...)})
	rn.rec.waitLine(t, `set.1 stdout: py=0$`, 5*time.Second)
	rn.rec.waitLine(t, `dflt.1 stdout: py=1$`, 5*time.Second)
	if python != "" {
		rn.rec.waitLine(t, `py.1 stdout: early$`, 10*time.Second) // while it still runs
	}
}

func withoutVar(env []string, name string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// `cluster stop web` stops one type and keeps the rest; its socket stays
// bound (a connection made meanwhile waits); `cluster start web` serves it.
func TestStopAndStartOneType(t *testing.T) {
	web := helperProc("web", procfile.SocketInherit, 1)
	jobs := shProc("jobs", `echo "jobs $$"; exec sleep 1000`)
	rn := start(t, Options{Config: config(web, jobs)})
	rn.waitEvents(t, " ready", 2, 20*time.Second)
	jobsPid := pidsIn(t, rn.rec.waitLine(t, `jobs \d+`, 5*time.Second))[0]
	if _, err := rn.r.StopTypes("web"); err != nil {
		t.Fatal(err)
	}
	rn.waitEvents(t, "web.1 exited", 1, 10*time.Second)
	st := statusOf(t, rn)
	for _, ts := range st.Types {
		if ts.Name == "web" && (!ts.Stopped || ts.Failed) {
			t.Errorf("web status %+v, want stopped and not failed", ts)
		}
	}
	if !alive(jobsPid) {
		t.Errorf("jobs worker %d was stopped too", jobsPid)
	}
	if _, err := rn.r.Restart("web"); err == nil {
		t.Errorf("restart of a stopped type: no error")
	}
	c, err := net.Dial("tcp", rn.addr(t, "web"))
	if err != nil {
		t.Fatalf("connection refused while web is stopped: %v", err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET / HTTP/1.0\r\n\r\n")
	if _, err := rn.r.StartTypes("web"); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	status, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.Contains(status, "200") {
		t.Fatalf("queued request: %q, %v", status, err)
	}
	select {
	case err := <-rn.done:
		rn.done <- err
		t.Fatalf("Run returned: %v", err)
	default:
	}
}

// A worker that closes the terminal it holds at fd 255, as daemons that
// close every descriptor do, and later opens /dev/tty still has what it
// writes there copied, past what the pty buffers: the runner's own slave
// keeps the master readable (without one it would only report EIO, and the
// writes would fill the pty and block).
func TestWorkerTerminalAfterItClosesFD255(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash to close fd 255 with")
	}
	p := shProc("web", "")
	p.Shell = false
	// 4,000 lines of 50 bytes: 200 KB, past what a pty buffers.
	p.Command = bash + ` -c 'exec 255>&-; sleep 0.5; { i=0; while [ $i -lt 4000 ]; do echo "0123456789012345678901234567890123456789 $i"; i=$((i+1)); done; } >/dev/tty; echo done'`
	rn := start(t, Options{Config: config(p)})
	if err := rn.wait(t, 30*time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
	lines, _ := rn.rec.snapshot()
	got := strings.Join(lines, "\n")
	for _, want := range []string{"web.1 tty: 0123456789012345678901234567890123456789 0\n", "web.1 tty: 0123456789012345678901234567890123456789 3999\n", "web.1 stdout: done"} {
		if !strings.Contains(got+"\n", want) {
			t.Errorf("missing %q", strings.TrimSpace(want))
		}
	}
	if n := strings.Count(got, "web.1 tty: 0123456789"); n != 4000 {
		t.Errorf("%d tty lines, want 4000", n)
	}
}

// A worker that exits leaves nothing of its process group running: a child
// that stays in the group and still holds the worker's stdout (as children
// do unless they redirect it) gets stop_signal, then SIGKILL after
// stop_timeout, like any other leftover; it does not live on, holding the
// worker's port and files, until the whole cluster stops.
func TestExitedWorkersGroupStopsAlsoWhileItHoldsStdout(t *testing.T) {
	// The worker exits once the kid ignores SIGHUP (else the hangup of the
	// worker's session at its exit would end it).
	trapped := filepath.Join(t.TempDir(), "trapped")
	web := shProc("web", `sh -c 'trap "" HUP TERM; echo "kid $$"; : > `+trapped+`; while :; do sleep 1; done' & while [ ! -e `+trapped+` ]; do sleep 0.01; done; exit 0`)
	web.StopTimeout = 300 * time.Millisecond
	keep := shProc("keep", `echo up; exec sleep 1000`) // the cluster runs on
	rn := start(t, Options{Config: config(web, keep)})
	kid := pidsIn(t, rn.rec.waitLine(t, `kid \d+`, 10*time.Second))[0]
	rn.waitEvents(t, "web.1 exited", 1, 10*time.Second)
	// The exit event comes at most outputGrace after the exit; the kid then
	// has stop_timeout before the SIGKILL.
	deadline := time.Now().Add(outputGrace + 10*time.Second)
	for alive(kid) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if alive(kid) {
		t.Fatalf("kid %d of the exited web.1 (in its process group, holding its stdout) still runs; events: %q", kid, rn.rec.messages())
	}
}

// Kill (a second Ctrl-C, SIGQUIT, shutdown_timeout) stops at once, also a
// proxy-mode worker that a request is still waiting on: the wait for its
// first byte before stop_signal (up to stop_timeout) ends with the Kill.
func TestKillEndsTheWaitForAProxiedRequest(t *testing.T) {
	p := helperProc("web", procfile.SocketProxy, 1)
	p.StopTimeout = 20 * time.Second
	rn := startWeb(t, p)
	addr := rn.addr(t, "web")
	go func() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /?sleep=60s HTTP/1.0\r\n\r\n")
		io.Copy(io.Discard, c)
	}()
	var pt *ptype
	for _, t := range rn.r.types {
		if t.p.Name == "web" {
			pt = t
		}
	}
	waiting := func() bool {
		pt.pool.mu.Lock()
		defer pt.pool.mu.Unlock()
		for _, b := range pt.pool.backends {
			if b.waiting.Load() > 0 {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(20 * time.Second); !waiting(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the request never reached the worker")
		}
	}
	rn.cancel()
	// Once the worker shows "stopping", the slot is on its way into that
	// wait, with no look at Kill before it.
	rn.waitStatus(t, func(st Status) bool {
		for _, w := range st.Workers {
			if w.Name == "web.1" && w.State == StateStopping {
				return true
			}
		}
		return false
	}, "web.1 stopping")
	t0 := time.Now()
	rn.r.Kill()
	rn.wait(t, 30*time.Second)
	if took := time.Since(t0); took > 5*time.Second {
		t.Errorf("Run returned %s after Kill, want at once (stop_timeout is %s)", took.Round(time.Millisecond), p.StopTimeout)
	}
}

// A stopped worker (SIGSTOP, `cluster signal web STOP`) gets SIGCONT after
// its stop_signal, so it stops gracefully instead of being SIGKILLed at
// stop_timeout.
func TestStoppedWorkerIsContinuedAtStop(t *testing.T) {
	p := shProc("web", `echo "pid $$"; exec sleep 1000`)
	p.StopTimeout = 15 * time.Second
	rn := start(t, Options{Config: config(p)})
	pid := pidsIn(t, rn.rec.waitLine(t, `pid \d+`, 5*time.Second))[0]
	if _, err := rn.r.Signal("web", syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); procState(pid) != "T"; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("worker %d not stopped: state %q", pid, procState(pid))
		}
	}
	t0 := time.Now()
	rn.cancel()
	err := rn.wait(t, 20*time.Second)
	t.Logf("stop took %s", time.Since(t0).Round(time.Millisecond))
	if err != nil {
		t.Errorf("Run = %v, want nil: the stopped worker must get SIGCONT with its stop_signal; events %q", err, rn.rec.messages())
	}
}

// procState is the state letter of pid in /proc ("R", "S", "T", ...).
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+3 > len(b) {
		return ""
	}
	return string(b[i+2 : i+3])
}
