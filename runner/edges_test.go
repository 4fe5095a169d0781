package runner

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cluster-run/cluster/procfile"
)

// A newer reload request (a fix saved) that arrives while the replacement
// of an older, broken one is starting is carried out when that one fails:
// it is not dropped with the aborted plan.
func TestNewerReloadSurvivesTheAbortOfAnOlderOne(t *testing.T) {
	dir := t.TempDir()
	var next atomic.Pointer[procfile.Config]
	next.Store(config(webProc(dir, "1", webScript)))
	rn := start(t, Options{Config: next.Load(), Reread: func() (*procfile.Config, error) { return next.Load(), nil }})
	rn.waitStatus(t, func(s Status) bool { return readyCount(s, "web") == 2 }, "2 ready")

	// v2 is broken: it crashes after a moment, before it is ready.
	next.Store(config(webProc(dir, "2", `echo $V >>starts.$CLUSTER_WORKER; sleep 1; exit 3`)))
	if _, err := rn.r.ReloadConfig(nil, true); err != nil {
		t.Fatal(err)
	}
	// Wait until the broken replacement runs, then save the fix and reload again.
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(dir, "starts.1"))
		if strings.Contains(string(b), "2") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the v2 replacement never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	next.Store(config(webProc(dir, "3", webScript)))
	if _, err := rn.r.ReloadConfig(nil, true); err != nil {
		t.Fatal(err)
	}
	rn.waitEvents(t, "reload of web aborted", 1, 10*time.Second)
	// The fix (v3) must be rolled out: both workers end up on it.
	deadline = time.Now().Add(15 * time.Second)
	for {
		b1, _ := os.ReadFile(filepath.Join(dir, "starts.1"))
		b2, _ := os.ReadFile(filepath.Join(dir, "starts.2"))
		if strings.HasSuffix(string(b1), "3\n") && strings.HasSuffix(string(b2), "3\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the newer reload request was dropped with the aborted plan: starts.1=%q starts.2=%q\nevents: %q", b1, b2, rn.rec.messages())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A worker SIGKILLed at its stop_timeout during a reload does not make a
// later graceful stop, in which every worker exits in time, fail: exit 1 is
// for a SIGKILL at shutdown.
func TestKillDuringReloadDoesNotFailALaterCleanStop(t *testing.T) {
	stubborn := shProc("web", `trap '' TERM; echo up; while :; do sleep 0.05; done`)
	stubborn.Restart = procfile.RestartAlways
	stubborn.StopTimeout = 300 * time.Millisecond
	rn := start(t, Options{Config: config(stubborn)})
	rn.rec.waitLine(t, `^web\.1 stdout: up$`, 10*time.Second) // SIGTERM is ignored from now on

	polite := shProc("web", `echo up; exec sleep 600`)
	polite.Restart = procfile.RestartAlways
	polite.StopTimeout = 300 * time.Millisecond
	if _, err := rn.r.Apply(config(polite), nil); err != nil {
		t.Fatal(err)
	}
	rn.waitEvents(t, "did not stop within", 1, 10*time.Second)
	rn.waitEvents(t, "web reloaded", 1, 10*time.Second)

	if err := rn.r.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := rn.wait(t, 10*time.Second); err != nil {
		t.Fatalf("graceful stop in which every worker exited in time returned %v; events %q", err, rn.rec.messages())
	}
}

// A Renew that fails keeps its descriptor: the next one (checkSockets runs
// it every second while Listening is false) must not close whatever file
// got that number since.
func TestFailedRenewKeepsItsDescriptor(t *testing.T) {
	l, err := Listen(procfile.Address{Network: "tcp", Addr: "127.0.0.1:0", Raw: "x"})
	if err != nil {
		t.Fatal(err)
	}
	addr := sockName(l.FD())
	l.Addr = procfile.Address{Network: "tcp", Addr: addr, Raw: addr}
	syscall.Shutdown(l.FD(), syscall.SHUT_RDWR) // a worker shut the shared socket down
	other, err := net.Listen("tcp", addr)       // and something else took the port
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if l.Listening() {
		t.Fatal("still listening")
	}
	if err := l.Renew(); err == nil {
		t.Fatal("Renew succeeded")
	}
	// An unrelated file now gets the lowest free descriptor: the one l still names.
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	t.Logf("l.fd=%d, unrelated file fd=%d", l.FD(), f.Fd())
	l.Listening() // false: checkSockets calls Renew again
	l.Renew()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatalf("a second failed Renew closed an unrelated descriptor: %v", err)
	}
}

// A max_memory replacement that fails once (a transient failure) is tried
// again, memoryRetry later: the worker does not stay above its limit.
func TestMaxMemoryRetriesAFailedReplacement(t *testing.T) {
	saved := memoryRetry
	memoryRetry = 500 * time.Millisecond
	t.Cleanup(func() { memoryRetry = saved })
	dir := t.TempDir()
	p := shProc("web", `n=$(cat count 2>/dev/null || echo 0); echo $((n+1)) >count; if [ "$n" = 1 ]; then exit 3; fi; echo up; exec sleep 600`)
	p.Dir = dir
	p.Restart = procfile.RestartAlways
	p.MaxMemory = 1 << 20 // 1 MiB: a shell plus sleep is always above it
	p.Ready = procfile.Ready{Kind: procfile.ReadyLog, Log: regexp.MustCompile("^up$"), Timeout: 10 * time.Second}
	rn := start(t, Options{Config: config(p)})
	rn.waitEvents(t, "web.1 ready", 1, 10*time.Second)
	first := rn.pids(t, "web")[0]
	rn.waitEvents(t, "reload of web aborted", 1, 15*time.Second) // the 2nd start failed
	// The worker is still above max_memory: it must be replaced eventually.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if pids := rn.pids(t, "web"); len(pids) == 1 && pids[0] != first && !alive(first) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("pid %d above max_memory was never replaced after one failed attempt; events %q", first, rn.rec.messages())
}

// The shared sockets' check (SO_ACCEPTCONN, re-created after a worker's
// shutdown()) also covers an inherit type added by a reload, not only one
// there at start.
func TestSocketCheckForAnInheritTypeAddedByApply(t *testing.T) {
	jobs := sleeper("jobs", "1")
	rn := start(t, Options{Config: config(jobs)})
	rn.waitEvents(t, "jobs.1 started", 1, 10*time.Second)

	p := helperProc("web", procfile.SocketInherit, 2)
	p.Dir = t.TempDir()
	p.Env = append(os.Environ(), "RUNNER_TEST_HELPER=shutdown")
	p.Ready = procfile.Ready{Kind: procfile.ReadyDelay, Delay: 200 * time.Millisecond, Timeout: 10 * time.Second}
	if _, err := rn.r.Apply(config(jobs, p), nil); err != nil {
		t.Fatal(err)
	}
	rn.waitEvents(t, "stopped listening (a worker called shutdown() on it); re-created it", 1, 10*time.Second)
}

// Once a type fails for good in watch mode, its workers that wait to
// restart do not start again: it waits for a file change. Before, each one
// in backoff started (and crashed) once more.
func TestFailedTypeStartsNoWorkerInBackoff(t *testing.T) {
	p := shProc("web", "exit 1")
	p.Workers, p.Restart, p.MaxRestarts = 3, procfile.RestartAlways, 2
	rn := start(t, Options{Config: config(p), Watch: true})
	rn.waitEvents(t, "web failed after", 1, 30*time.Second)
	rn.waitStatus(t, func(st Status) bool { return len(st.Workers) == 0 }, "no worker of the failed type left")
	msgs := rn.rec.messages()
	for i, m := range msgs {
		if strings.HasPrefix(m, "web failed after") {
			for _, later := range msgs[i+1:] {
				if strings.Contains(later, " started (pid ") {
					t.Fatalf("%q after the type failed; events %q", later, msgs)
				}
			}
			return
		}
	}
}

// ready.timeout bounds the HTTP probe of a server that accepts and never
// answers: each probe is cut at the time left. Before, a probe blocked for
// its full second past the timeout (and could win the select against it),
// so "not ready" came at 2.05 s or later for a 1.2 s timeout.
func TestReadyTimeoutBoundsABlockedProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()
	p := shProc("web", "true")
	p.Ready = procfile.Ready{Kind: procfile.ReadyHTTP, HTTP: "/healthz", Timeout: 1200 * time.Millisecond}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	rd := newReadiness(p, []string{"PORT=" + port})
	defer rd.close()
	t0 := time.Now()
	err = <-rd.wait(nil)
	took := time.Since(t0)
	if err == nil || !strings.Contains(err.Error(), "not ready after 1.2s") {
		t.Fatalf("wait = %v, want not ready", err)
	}
	if took > 1900*time.Millisecond {
		t.Errorf("not ready came %s after the start, for a 1.2s ready.timeout", took)
	}
}
