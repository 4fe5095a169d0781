package runner

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cluster-run/cluster/procfile"
)

func statusOf(t *testing.T, rn *running) Status {
	t.Helper()
	st, err := rn.r.Status()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func pidOf(st Status, name string) int {
	for _, w := range st.Workers {
		if w.Name == name {
			return w.PID
		}
	}
	return 0
}

func (rn *running) waitStatus(t *testing.T, cond func(Status) bool, what string) Status {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if st := statusOf(t, rn); cond(st) {
			return st
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; status %+v; events %q", what, statusOf(t, rn), rn.rec.messages())
	return Status{}
}

func readyCount(st Status, process string) int {
	n := 0
	for _, w := range st.Workers {
		if w.Process == process && w.State == StateReady {
			n++
		}
	}
	return n
}

func TestStatusScaleRestartSignal(t *testing.T) {
	p := shProc("web", `trap 'echo "got USR1"' USR1; echo up; while :; do sleep 0.05; done`)
	p.Workers = 2
	p.Restart = procfile.RestartAlways
	p.StopTimeout = 2 * time.Second
	rn := start(t, Options{Config: config(p)})
	st := rn.waitStatus(t, func(s Status) bool { return readyCount(s, "web") == 2 }, "2 ready")
	if len(st.Workers) != 2 || st.Workers[0].Name != "web.1" || st.Workers[1].Name != "web.2" || st.Workers[0].PID == 0 {
		t.Fatalf("status rows: %+v", st.Workers)
	}
	rn.waitStatus(t, func(s Status) bool { return s.Workers[0].RSS > 0 }, "an RSS reading")

	// restart one worker: its pid changes, the other's does not.
	p1, p2 := pidOf(st, "web.1"), pidOf(st, "web.2")
	if _, err := rn.r.Restart("web.2"); err != nil {
		t.Fatal(err)
	}
	st = rn.waitStatus(t, func(s Status) bool {
		return pidOf(s, "web.2") != p2 && pidOf(s, "web.2") != 0 && len(s.Workers) == 2 && readyCount(s, "web") == 2
	}, "web.2 replaced")
	if pidOf(st, "web.1") != p1 {
		t.Errorf("restart web.2 changed web.1's pid")
	}

	// scale up and down.
	if _, err := rn.r.Scale("web", 4); err != nil {
		t.Fatal(err)
	}
	rn.waitStatus(t, func(s Status) bool { return readyCount(s, "web") == 4 }, "4 ready")
	if _, err := rn.r.Scale("web", 1); err != nil {
		t.Fatal(err)
	}
	st = rn.waitStatus(t, func(s Status) bool { return len(s.Workers) == 1 }, "1 worker")
	if st.Workers[0].Name != "web.1" {
		t.Errorf("scale down kept %s, want web.1", st.Workers[0].Name)
	}
	if _, err := rn.r.Scale("nope", 1); err == nil {
		t.Errorf("scale of an unknown type succeeded")
	}

	// TTIN/TTOU only touch types with listen: web has none.
	rn.r.ScaleListening(1)
	if n := len(statusOf(t, rn).Workers); n != 1 {
		t.Errorf("ScaleListening changed a type without listen: %d workers", n)
	}

	// signal, once web.1's shell has set its trap: status says ready as soon
	// as the worker is forked, and a signal that arrives while it is still
	// exec'ing (through the shim: slow for a race-enabled test binary on a
	// busy machine) finds the default action.
	rn.rec.waitLine(t, `^web\.1 stdout: up$`, 10*time.Second)
	if _, err := rn.r.Signal("web.1", syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	rn.rec.waitLine(t, `got USR1`, 5*time.Second)
	if _, err := rn.r.Signal("web.3", syscall.SIGUSR1); err == nil {
		t.Errorf("signal to a worker that does not exist succeeded")
	}

	// stop: graceful, Run returns nil.
	if err := rn.r.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := rn.wait(t, 10*time.Second); err != nil {
		t.Errorf("Run after Stop = %v, want nil", err)
	}
	if _, err := rn.r.Status(); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Status after stop = %v, want ErrNotRunning", err)
	}
}

func TestScaleListeningNeverBelowOne(t *testing.T) {
	p := helperProc("web", procfile.SocketInherit, 1)
	rn := start(t, Options{Config: config(p)})
	rn.waitStatus(t, func(s Status) bool { return readyCount(s, "web") == 1 }, "ready")
	rn.r.ScaleListening(1)
	rn.waitStatus(t, func(s Status) bool { return readyCount(s, "web") == 2 }, "TTIN: 2 ready")
	rn.r.ScaleListening(-1)
	rn.r.ScaleListening(-1)
	rn.waitStatus(t, func(s Status) bool { return len(s.Workers) == 1 && readyCount(s, "web") == 1 }, "TTOU: back to 1, not 0")
}

func TestControlSocket(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".cluster.sock")
	p := shProc("web", `echo up; exec sleep 1000`)
	rn := start(t, Options{Config: config(p)})
	ctl, err := ListenControl(path)
	if err != nil {
		t.Fatal(err)
	}
	go ctl.Serve(rn.r)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", fi.Mode(), err)
	}
	if _, err := ListenControl(path); !errors.Is(err, ErrClusterRunning) {
		t.Errorf("second ListenControl = %v, want ErrClusterRunning", err)
	}
	resp, err := Call(path, Request{Cmd: "status"})
	if err != nil || !resp.OK || resp.Status == nil || len(resp.Status.Workers) != 1 {
		t.Fatalf("status over the socket: %+v %v", resp, err)
	}
	resp, _ = Call(path, Request{Cmd: "restart", Args: []string{"nope.1"}})
	if resp.OK || !strings.Contains(resp.Error, `unknown process type "nope"`) {
		t.Errorf("restart of an unknown type: %+v", resp)
	}
	if resp, _ := Call(path, Request{Cmd: "stop"}); !resp.OK {
		t.Errorf("stop: %+v", resp)
	}
	if err := rn.wait(t, 10*time.Second); err != nil {
		t.Errorf("Run after stop = %v", err)
	}
	ctl.Close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind: %v", err)
	}
	if _, err := Call(path, Request{Cmd: "status"}); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Call without a cluster = %v, want ErrNotRunning", err)
	}
}

func TestStaleControlSocketIsReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".cluster.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // the file stays; nobody answers: a killed runner's socket
	ctl, err := ListenControl(path)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	ctl.Close()
}

// Two runners that start at the same moment both find no socket; the one
// that binds second must fail, not replace the first one's socket (a
// rename into place would).
func TestControlSocketBindRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".cluster.sock")
	first, err := bindPrivate(path)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket mode: %v %v", fi.Mode(), err)
	}
	if _, err := bindPrivate(path); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("second bind = %v, want EADDRINUSE", err)
	}
	c, err := net.Dial("unix", path) // still the first one's
	if err != nil {
		t.Fatalf("first socket lost: %v", err)
	}
	c.Close()
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("left in the directory: %v", entries)
	}
}

func TestReadyAndExec(t *testing.T) {
	t.Run("ready then command", func(t *testing.T) {
		p := shProc("web", `echo up; exec sleep 1000`)
		rn := start(t, Options{Config: config(p)})
		if err := <-rn.r.Ready(); err != nil {
			t.Fatal(err)
		}
		code, sig, err := rn.r.Exec("", []string{"sh", "-c", "exit 7"}, os.Environ(), nil, time.Second)
		if err != nil || code != 7 || sig != 0 {
			t.Errorf("Exec = %d, %v, %v; want 7", code, sig, err)
		}
		code, sig, err = rn.r.Exec("", []string{"sh", "-c", "kill -USR2 $$"}, os.Environ(), nil, time.Second)
		if err != nil || code != 128+int(syscall.SIGUSR2) || sig != syscall.SIGUSR2 {
			t.Errorf("Exec = %d, %v, %v; want %d, SIGUSR2", code, sig, err, 128+int(syscall.SIGUSR2))
		}
	})
	t.Run("never ready", func(t *testing.T) {
		p := shProc("web", `echo "config error: no DATABASE_URL"; exit 1`)
		p.Restart = procfile.RestartAlways
		// A log line it never prints: a delay could pass before a slow
		// machine even runs the shell.
		p.Ready = procfile.Ready{Kind: procfile.ReadyLog, Log: regexp.MustCompile(`^listening$`), Timeout: time.Minute}
		rn := start(t, Options{Config: config(p)})
		err := <-rn.r.Ready()
		var nre *NotReadyError
		if !errors.As(err, &nre) || nre.Worker != "web.1" || len(nre.Lines) == 0 || nre.Lines[0] != "config error: no DATABASE_URL" {
			t.Errorf("Ready = %v", err)
		}
	})
}

func TestWatchModeKeepsRunningWithNoWorkerLeft(t *testing.T) {
	p := shProc("web", `exit 1`)
	p.Restart = procfile.RestartOnFailure
	p.MaxRestarts = 0
	rn := start(t, Options{Config: config(p), Watch: true})
	rn.waitEvents(t, "waiting for a file change", 1, 10*time.Second)
	if _, err := rn.r.Status(); err != nil {
		t.Fatalf("the runner stopped with its only type failed in watch mode: %v", err)
	}
	rn.cancel()
	if err := rn.wait(t, 5*time.Second); err != nil {
		t.Errorf("Run = %v", err)
	}
}

func TestWatchModeFailedTypeWaitsAndRevives(t *testing.T) {
	dir := t.TempDir()
	crash := shProc("web", `test -f fixed && { echo fixed; exec sleep 1000; }; echo crash; exit 1`)
	crash.Dir = dir
	crash.Restart = procfile.RestartAlways
	crash.MaxRestarts = 2
	other := shProc("jobs", `echo jobs up; exec sleep 1000`)
	rn := start(t, Options{Config: config(crash, other), Watch: true})
	rn.waitEvents(t, "web failed after 3 crashes in 1m0s; waiting for a file change", 1, 10*time.Second)
	select {
	case err := <-rn.done:
		t.Fatalf("the cluster stopped in watch mode: %v", err)
	default:
	}
	os.WriteFile(filepath.Join(dir, "fixed"), nil, 0o644)
	rn.r.Reload("web") // what a matching file change does
	rn.rec.waitLine(t, `web.1 stdout: fixed`, 10*time.Second)
	rn.waitStatus(t, func(s Status) bool { return readyCount(s, "web") == 1 && readyCount(s, "jobs") == 1 }, "web revived, jobs still up")
}

// A save whose trial fails leaves a failed type failed, and says so: no old
// worker serves it. (It said "the old workers keep serving" with none left,
// and status no longer showed it failed.)
func TestWatchModeFailedTypeStaysFailedWhenItsTrialFails(t *testing.T) {
	p := shProc("crash", `echo boom; sleep 0.5; exit 3`)
	p.Workers = 2
	p.Restart = procfile.RestartAlways
	p.MaxRestarts = 2
	p.Ready = procfile.Ready{Kind: procfile.ReadyDelay, Delay: 2 * time.Second, Timeout: time.Minute}
	rn := start(t, Options{Config: config(p), Watch: true})
	rn.waitEvents(t, "crash failed after 3 crashes in 1m0s; waiting for a file change", 1, 20*time.Second)
	rn.waitStatus(t, func(s Status) bool { return len(s.Workers) == 0 }, "no worker left")
	w, err := rn.r.reload([]string{"crash"}, true) // a matching change, with reload --wait
	if err != nil {
		t.Fatal(err)
	}
	// While its new worker starts, it is still failed: nothing is ready.
	st := rn.waitStatus(t, func(s Status) bool { return len(s.Workers) == 1 && s.Workers[0].PID > 0 }, "the new worker")
	if !st.Types[0].Failed {
		t.Errorf("status while the new worker starts: %+v, want crash failed", st.Types)
	}
	why := "reload of crash aborted: the new crash.1 exited before it was ready (status 3); crash is still failed; waiting for a file change"
	if err := waitResult(t, rn, w); err == nil || err.Error() != why {
		t.Errorf("reload --wait: %v, want %q", err, why)
	}
	rn.waitEvents(t, why, 1, 10*time.Second)
	st = rn.waitStatus(t, func(s Status) bool { return len(s.Workers) == 0 }, "the trial gone")
	if len(st.Types) != 1 || !st.Types[0].Failed {
		t.Errorf("status after the failed trial: %+v, want crash failed", st.Types)
	}
}

// A peer with another UID is refused even when the socket's permissions
// would let it connect (SO_PEERCRED is checked, not only the file mode).
func TestControlSocketRefusesOtherUID(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a client as another user")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("needs setpriv (util-linux) to run a client as another user")
	}
	dir, err := os.MkdirTemp("", "cluster-uid-test-") // t.TempDir's parent is 0700
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	path := filepath.Join(dir, "ctl.sock")
	rec := &recorder{}
	r, err := New(Options{Config: config(shProc("web", "true")), Output: rec})
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := ListenControl(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	go ctl.Serve(r)
	os.Chmod(path, 0o666) // as if someone loosened it
	self, _ := os.Executable()
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", self)
	cmd.Env = append(os.Environ(), "RUNNER_TEST_HELPER=ctlclient", "CTL_SOCK="+path)
	b, err := cmd.CombinedOutput()
	if !strings.Contains(string(b), "permission denied: not the cluster's user") {
		t.Errorf("client as uid 65534 got %q (%v)", b, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(strings.Join(rec.messages(), "\n"), "refused a control connection from uid 65534") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(strings.Join(rec.messages(), "\n"), "refused a control connection from uid 65534") {
		t.Errorf("refusal not logged: %q", rec.messages())
	}
}

// A start (or scale up) that comes while the stopped workers still drain
// fills every index again; a Ready waiting on a worker stopped before it was
// ready answers.
func TestRestartWhileOldWorkersDrain(t *testing.T) {
	// TERM: it takes 600ms to go, as an app finishing its requests.
	p := shProc("web", `trap 'sleep 0.6; exit 0' TERM; echo up; while :; do sleep 0.05; done`)
	p.Workers = 3
	p.StopTimeout = 10 * time.Second
	p.Ready = procfile.Ready{Kind: procfile.ReadyLog, Log: regexp.MustCompile(`^up$`), Timeout: time.Minute}
	rn := start(t, Options{Config: config(p)})
	rn.waitStatus(t, func(s Status) bool { return readyCount(s, "web") == 3 }, "3 ready")
	if _, err := rn.r.StopTypes("web"); err != nil {
		t.Fatal(err)
	}
	if _, err := rn.r.StartTypes("web"); err != nil {
		t.Fatal(err)
	}
	rn.waitEvents(t, "web.3 started", 2, 20*time.Second)
	rn.waitStatus(t, func(s Status) bool { return readyCount(s, "web") == 3 && len(s.Workers) == 3 }, "3 ready again after stop+start")

	if _, err := rn.r.Scale("web", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := rn.r.Scale("web", 3); err != nil {
		t.Fatal(err)
	}
	rn.waitEvents(t, "web.3 started", 3, 20*time.Second)
	rn.waitStatus(t, func(s Status) bool { return readyCount(s, "web") == 3 && len(s.Workers) == 3 }, "3 ready again after scale 1 then 3")
}

func TestReadyAnswersWhenAStartingWorkerIsStopped(t *testing.T) {
	p := shProc("web", `echo starting; exec sleep 1000`)
	p.Ready = procfile.Ready{Kind: procfile.ReadyLog, Log: regexp.MustCompile(`^never$`), Timeout: time.Hour}
	q := shProc("jobs", `echo up; exec sleep 1000`)
	rn := start(t, Options{Config: config(p, q)})
	rn.rec.waitLine(t, `web\.1 stdout: starting`, 10*time.Second)
	ready := rn.r.Ready()
	if _, err := rn.r.StopTypes("web"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ready:
		if err != nil {
			t.Errorf("Ready = %v after the only unready type was stopped", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Ready did not answer after the unready worker was stopped")
	}
}

// A control socket that exists but cannot be reached is not a stale one:
// another user's runner (EACCES) or a busy one (a full backlog, here) keeps
// it, and the new runner refuses to start instead of taking the path.
func TestUnreachableControlSocketIsKept(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("a full backlog answers ECONNREFUSED on the BSDs: there it looks stale")
	}
	path := filepath.Join(t.TempDir(), ".cluster.sock")
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	// Fill the backlog: nobody accepts, so a further connect cannot succeed.
	for i := 0; i < 2; i++ {
		c, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer syscall.Close(c)
		syscall.SetNonblock(c, true)
		syscall.Connect(c, &syscall.SockaddrUnix{Name: path})
	}
	before, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := ListenControl(path)
	if err == nil {
		ctl.Close()
		t.Fatal("ListenControl replaced a socket it could not reach")
	}
	if !errors.Is(err, ErrClusterRunning) || !strings.Contains(err.Error(), "cannot be reached") {
		t.Errorf("error %q, want ErrClusterRunning saying it cannot be reached", err)
	}
	if after, err := os.Lstat(path); err != nil || !os.SameFile(before, after) {
		t.Errorf("the socket file was replaced or removed: %v", err)
	}
}

// Close removes its own socket file only: one another runner bound at the
// path since (after removing this one's) stays.
func TestControlCloseKeepsAnotherRunnersSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".cluster.sock")
	ctl, err := ListenControl(path)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	other, err := bindPrivate(path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ctl.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("Close removed the other runner's socket: %v", err)
	}
}

// Runners that start at the same moment beside a stale socket replace it
// in turn: exactly one gets the path; the other one's removal of the stale
// file cannot delete the socket the first just bound.
func TestStaleControlSocketRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".cluster.sock")
	for try := 0; try < 100; try++ {
		os.Remove(path)
		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		ln.SetUnlinkOnClose(false)
		ln.Close() // stale: the file stays, nobody answers
		var wg sync.WaitGroup
		start := make(chan struct{})
		srvs := make([]*ControlServer, 2)
		for k := range srvs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				srvs[k], _ = ListenControl(path)
			}()
		}
		close(start)
		wg.Wait()
		n := 0
		for _, s := range srvs {
			if s != nil {
				n++
				s.ln.Close()
			}
		}
		if n != 1 {
			t.Fatalf("try %d: %d runners got the control socket, want exactly 1", try, n)
		}
	}
}

// A scale request with one bad argument changes no count, whatever the
// order of its arguments; a limit over the total of several is refused the
// same way. (Before, the arguments in front of the bad one were applied.)
func TestScaleRefusedChangesNothing(t *testing.T) {
	var ps []*procfile.Process
	for _, name := range []string{"web", "a", "b", "c", "d"} {
		ps = append(ps, shProc(name, "exec sleep 1000"))
	}
	rn := start(t, Options{Config: config(ps...)})
	// stopped types take a new count without starting anything, so the
	// total can pass its limit here without 4,000 processes.
	if _, err := rn.r.StopTypes("a", "b", "c", "d"); err != nil {
		t.Fatal(err)
	}
	counts := func() map[string]int {
		m := map[string]int{}
		for _, ts := range statusOf(t, rn).Types {
			m[ts.Name] = ts.Workers
		}
		return m
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"web=3", "nope=1"}, `unknown process type "nope"`},
		{[]string{"nope=1", "web=3"}, `unknown process type "nope"`},
		{[]string{"web=3", "a=1025"}, `a=1025: over the limit of 1024 workers per type`},
		{[]string{"web=3", "a=-1"}, `a=-1: a count is 0 or more`},
		{[]string{"web=2", "web=3"}, `web is given twice`},
		{[]string{"a=1024", "b=1024", "c=1024", "d=1024", "web=2"}, `a=1024 b=1024 c=1024 d=1024 web=2: would make 4098 workers in all, over the limit of 4096`},
	} {
		resp, _ := rn.r.dispatch(Request{Cmd: "scale", Args: tc.args})
		if resp.OK || resp.Error != tc.want {
			t.Errorf("scale %q: OK %v, error %q; want refused with %q", tc.args, resp.OK, resp.Error, tc.want)
		}
		for name, n := range counts() {
			if n != 1 {
				t.Errorf("after the refused scale %q, %s has %d workers, want 1", tc.args, name, n)
			}
		}
	}

	resp, _ := rn.r.dispatch(Request{Cmd: "scale", Args: []string{"web=2", "a=0", "b=1024"}})
	if !resp.OK || strings.Join(resp.Lines, "\n") != "web: 1 -> 2 workers\na: 1 -> 0 workers\nb: 1 -> 1024 workers" {
		t.Fatalf("scale web=2 a=0 b=1024: %+v", resp)
	}
	if c := counts(); c["web"] != 2 || c["a"] != 0 || c["b"] != 1024 || c["c"] != 1 {
		t.Errorf("after scale web=2 a=0 b=1024: counts %v", c)
	}
	rn.waitStatus(t, func(s Status) bool { return readyCount(s, "web") == 2 }, "web: 2 ready")
}
