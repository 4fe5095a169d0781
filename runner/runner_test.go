package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cluster-run/cluster/procfile"
)

func TestMain(m *testing.M) {
	// The test binary is also the exec shim workers are started through.
	if len(os.Args) > 1 && os.Args[1] == ShimCommand {
		os.Exit(Shim(os.Args[2:]))
	}
	if h := os.Getenv("RUNNER_TEST_HELPER"); h != "" {
		os.Exit(helper(h))
	}
	// Race-enabled workers otherwise sleep 1s at exit (atexit_sleep_ms).
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	if err := BecomeSubreaper(); err != nil {
		fmt.Fprintln(os.Stderr, "subreaper:", err)
	}
	os.Exit(m.Run())
}

// recorder is an Output that keeps every line and event.
type recorder struct {
	mu     sync.Mutex
	lines  []string // "web.1 stdout: text"
	events []Event
}

func (r *recorder) Stream(s Stream) io.WriteCloser {
	return &lineWriter{rec: r, label: fmt.Sprintf("%s.%d", s.Process, s.Worker), s: s}
}

func (r *recorder) Event(e Event) {
	if os.Getenv("RUNNER_TEST_TRACE") != "" {
		fmt.Fprintln(os.Stderr, time.Now().Format("15:04:05.000"), e.Message)
	}
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) snapshot() (lines []string, events []Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...), append([]Event(nil), r.events...)
}

func (r *recorder) messages() []string {
	_, evs := r.snapshot()
	var out []string
	for _, e := range evs {
		out = append(out, e.Message)
	}
	return out
}

// waitLine polls until a line matching re was printed, and returns it.
func (r *recorder) waitLine(t *testing.T, re string, timeout time.Duration) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		lines, _ := r.snapshot()
		for _, l := range lines {
			if rx.MatchString(l) {
				return l
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	lines, _ := r.snapshot()
	t.Fatalf("no line matching %q within %s; lines:\n%s\nevents: %q", re, timeout, strings.Join(lines, "\n"), r.messages())
	return ""
}

type lineWriter struct {
	rec   *recorder
	label string
	s     Stream
	buf   []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			break
		}
		w.emit(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func (w *lineWriter) emit(line []byte) {
	if w.s.OnLine != nil {
		w.s.OnLine(line)
	}
	w.rec.mu.Lock()
	w.rec.lines = append(w.rec.lines, w.label+" "+w.s.Stream+": "+string(line))
	w.rec.mu.Unlock()
}

func (w *lineWriter) Close() error {
	if len(w.buf) > 0 {
		w.emit(w.buf)
		w.buf = nil
	}
	return nil
}

// proc returns a process type with SPEC's defaults and a shell command.
func shProc(name, script string) *procfile.Process {
	return &procfile.Process{
		Name: name, Command: script, Shell: true, Workers: 1,
		Dir: os.TempDir(), Env: os.Environ(),
		Restart: procfile.RestartNever, MaxRestarts: 10, RestartWindow: time.Minute,
		StopSignal: syscall.SIGTERM, StopTimeout: 5 * time.Second, KillMode: procfile.KillGroup,
		Ready: procfile.Ready{Kind: procfile.ReadyStarted, Timeout: time.Minute},
	}
}

func config(ps ...*procfile.Process) *procfile.Config {
	return &procfile.Config{Name: "test", Dir: os.TempDir(), ShutdownTimeout: 30 * time.Second, Processes: ps}
}

type running struct {
	r      *Runner
	rec    *recorder
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, opts Options) *running {
	t.Helper()
	rec := &recorder{}
	opts.Output = rec
	opts.ReapAll = true
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rn := &running{r: r, rec: rec, cancel: cancel, done: make(chan error, 1)}
	go func() { rn.done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		r.Kill()
		<-rn.done
	})
	return rn
}

func (rn *running) wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case err := <-rn.done:
		rn.done <- err // for Cleanup
		return err
	case <-time.After(timeout):
		lines, _ := rn.rec.snapshot()
		t.Fatalf("Run did not return within %s; lines:\n%s\nevents: %q", timeout, strings.Join(lines, "\n"), rn.rec.messages())
		return nil
	}
}

func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && !strings.HasPrefix(string(b[i+1:]), " Z")
}

func exists(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}

func pidsIn(t *testing.T, line string) []int {
	t.Helper()
	var pids []int
	for _, f := range regexp.MustCompile(`\d+`).FindAllString(line[strings.Index(line, ":"):], -1) {
		n, _ := strconv.Atoi(f)
		pids = append(pids, n)
	}
	return pids
}

func TestEnvContract(t *testing.T) {
	web := shProc("web", `echo "env $CLUSTER_PROCESS $CLUSTER_WORKER $CLUSTER_WORKERS $PORT ${LISTEN_FDS-none} ${NOTIFY_SOCKET-none}"`)
	web.Workers = 2
	jobs := shProc("jobs", `echo "env $CLUSTER_PROCESS $CLUSTER_WORKER $CLUSTER_WORKERS $PORT"; read x; echo "stdin=[$x]"`)
	web.Env = append(web.Env, "LISTEN_FDS=7", "NOTIFY_SOCKET=/nope")
	rn := start(t, Options{Config: config(web, jobs), PortBase: 6000})
	if err := rn.wait(t, 10*time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
	lines, _ := rn.rec.snapshot()
	got := strings.Join(lines, "\n")
	for _, want := range []string{
		"web.1 stdout: env web 1 2 6000 none none",
		"web.2 stdout: env web 2 2 6001 none none",
		"jobs.1 stdout: env jobs 1 1 6100",
		"jobs.1 stdout: stdin=[]",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}

func TestWorkerOverridesAndSubset(t *testing.T) {
	web := shProc("web", `echo "w $CLUSTER_WORKER/$CLUSTER_WORKERS"`)
	jobs := shProc("jobs", `echo jobs ran`)
	rn := start(t, Options{Config: config(web, jobs), Only: []string{"web"}, Workers: map[string]int{"web": 3}})
	if err := rn.wait(t, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	lines, _ := rn.rec.snapshot()
	got := strings.Join(lines, "\n")
	for i := 1; i <= 3; i++ {
		if !strings.Contains(got, fmt.Sprintf("w %d/3", i)) {
			t.Errorf("worker %d missing:\n%s", i, got)
		}
	}
	if strings.Contains(got, "jobs ran") {
		t.Errorf("jobs ran although only web was selected")
	}
}

func TestProgramNotFound(t *testing.T) {
	p := shProc("web", "")
	p.Shell = false
	p.Command = "definitely-not-a-program-xyz --flag"
	p.Env = []string{"PATH=/usr/bin:/bin"}
	_, err := New(Options{Config: config(p)})
	if err == nil || !strings.Contains(err.Error(), `program "definitely-not-a-program-xyz" not found in PATH (/usr/bin:/bin)`) {
		t.Fatalf("err = %v", err)
	}
}

func TestGracefulStopKillsGrandchildren(t *testing.T) {
	p := shProc("web", `sleep 1000 & echo "kids $$ $!"; wait`)
	rn := start(t, Options{Config: config(p)})
	line := rn.rec.waitLine(t, `kids \d+ \d+`, 5*time.Second)
	pids := pidsIn(t, line)
	rn.cancel()
	if err := rn.wait(t, 10*time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, pid := range pids {
		if exists(pid) {
			t.Errorf("pid %d still exists after stop", pid)
		}
	}
}

func TestIgnoredTermIsKilledAfterStopTimeout(t *testing.T) {
	p := shProc("web", `trap "" TERM; echo up; while :; do sleep 0.05; done`)
	p.StopTimeout = 400 * time.Millisecond
	rn := start(t, Options{Config: config(p)})
	rn.rec.waitLine(t, `up`, 5*time.Second)
	t0 := time.Now()
	rn.cancel()
	err := rn.wait(t, 10*time.Second)
	took := time.Since(t0)
	if !errors.Is(err, ErrKilled) {
		t.Fatalf("Run = %v, want ErrKilled", err)
	}
	// The bound tells stop_timeout from shutdown_timeout (30s) with room for
	// a busy machine; it is not a speed test.
	limit := 400*time.Millisecond + 3*time.Second
	if Portable {
		// The SIGKILLed `sleep 0.05` is init's zombie, not ours, until init
		// reaps it, and kill(-pgid, 0) counts zombies: the group cleanup
		// waits for it, at most another stop_timeout. launchd reaps at once;
		// some container inits only every second.
		limit += 400 * time.Millisecond
	}
	if took < 400*time.Millisecond-50*time.Millisecond || took > limit {
		t.Errorf("stop took %s, want stop_timeout 400ms (at most %s)", took, limit)
	}
}

func TestKillIsImmediate(t *testing.T) {
	p := shProc("web", `trap "" TERM; echo up; while :; do sleep 0.05; done`)
	p.StopTimeout = time.Minute
	rn := start(t, Options{Config: config(p)})
	rn.rec.waitLine(t, `up`, 5*time.Second)
	rn.cancel()
	rn.r.Kill()
	if err := rn.wait(t, 3*time.Second); err == nil {
		t.Fatalf("Run = nil after an immediate kill of a worker that ignores TERM")
	}
}

func TestMixedModeSignalsLeaderOnly(t *testing.T) {
	for _, mode := range []procfile.KillMode{procfile.KillGroup, procfile.KillMixed} {
		t.Run(string(mode), func(t *testing.T) {
			// The leader's trap is set before the child starts: "child up"
			// then means both traps are in place.
			p := shProc("web", `trap 'echo leader got TERM; wait; exit 0' TERM
sh -c 'trap "echo child got TERM; exit 0" TERM; echo child up; while :; do sleep 0.05; done' &
wait`)
			p.KillMode = mode
			rn := start(t, Options{Config: config(p)})
			rn.rec.waitLine(t, `child up`, 5*time.Second)
			rn.cancel()
			rn.wait(t, 10*time.Second)
			lines, _ := rn.rec.snapshot()
			got := strings.Join(lines, "\n")
			childGot := strings.Contains(got, "child got TERM")
			if mode == procfile.KillGroup && !childGot {
				t.Errorf("group mode: the child did not get TERM:\n%s", got)
			}
			if mode == procfile.KillMixed && childGot {
				t.Errorf("mixed mode: the child got TERM:\n%s", got)
			}
			if !strings.Contains(got, "leader got TERM") {
				t.Errorf("leader did not get TERM:\n%s", got)
			}
		})
	}
}

func TestBackoffSchedule(t *testing.T) {
	want := []time.Duration{100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000}
	for i, w := range want {
		if got := backoff(i+1, 0.5); got != w*time.Millisecond {
			t.Errorf("backoff(%d) = %s, want %s", i+1, got, w*time.Millisecond)
		}
	}
	if lo, hi := backoff(3, 0), backoff(3, 0.999); lo != 320*time.Millisecond || hi < 479*time.Millisecond || hi > 480*time.Millisecond {
		t.Errorf("jitter bounds of backoff(3) = %s..%s, want 320ms..480ms", lo, hi)
	}
	if got := backoff(40, 0.999); got != 30*time.Second {
		t.Errorf("backoff is not capped: %s", got)
	}
}

var restartDelay = regexp.MustCompile(`restarting in (\S+)`)

func delays(msgs []string) []time.Duration {
	var out []time.Duration
	for _, m := range msgs {
		if s := restartDelay.FindStringSubmatch(m); s != nil {
			d, _ := time.ParseDuration(s[1])
			out = append(out, d)
		}
	}
	return out
}

func TestCrashLoopFails(t *testing.T) {
	p := shProc("web", `echo crash; exit 3`)
	p.Restart = procfile.RestartAlways
	p.MaxRestarts = 4
	rn := start(t, Options{Config: config(p)})
	t0 := time.Now()
	err := rn.wait(t, 10*time.Second)
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("Run = %v, want ErrFailed", err)
	}
	msgs := rn.rec.messages()
	ds := delays(msgs)
	if len(ds) != 4 {
		t.Fatalf("want 4 restarts, got %v in %q", ds, msgs)
	}
	for i := 1; i < len(ds); i++ {
		if ds[i] <= ds[i-1] {
			t.Errorf("backoff does not grow: %v", ds)
		}
	}
	joined := strings.Join(msgs, "\n")
	for _, want := range []string{"web.1 exited (status 3)", "web failed after 5 crashes in 1m0s"} {
		if !strings.Contains(joined, want) {
			t.Errorf("missing event %q in:\n%s", want, joined)
		}
	}
	// 100+200+400+800ms with ±20% jitter, plus process starts.
	if took := time.Since(t0); took > 4*time.Second {
		t.Errorf("crash loop took %s to fail", took)
	}
}

// One worker's backoff spreads its crashes out: with the defaults (10 in
// 60s, backoff up to 30s) 11 crashes never fit in the window. Crashes in a
// row fail the type too; a short restart_window here stands for that.
func TestCrashStreakFailsOneWorker(t *testing.T) {
	p := shProc("web", `echo boom; exit 3`)
	p.Restart = procfile.RestartAlways
	p.MaxRestarts = 3
	p.RestartWindow = 50 * time.Millisecond // below the first backoff: never 2 crashes in it
	rn := start(t, Options{Config: config(p)})
	err := rn.wait(t, 15*time.Second)
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("Run = %v, want ErrFailed", err)
	}
	joined := strings.Join(rn.rec.messages(), "\n")
	if !strings.Contains(joined, "web failed: web.1 crashed 4 times in a row") {
		t.Errorf("missing the failed event in:\n%s", joined)
	}
	if n := len(delays(rn.rec.messages())); n != 3 {
		t.Errorf("%d restarts, want 3 in:\n%s", n, joined)
	}
}

// A clean exit ends a run of crashes: a worker that fails every other run
// is not "crashed N times in a row" (the count went on over its clean
// exits, and failed the type), and each of its crashes gets the first,
// shortest backoff again (it grew to 30s and stayed there).
func TestCleanExitEndsCrashStreak(t *testing.T) {
	old := quickExit
	quickExit = time.Nanosecond // its clean runs count as long ones: they reset the backoff
	t.Cleanup(func() { quickExit = old })
	dir := t.TempDir()
	p := shProc("job", `n=$(cat n 2>/dev/null || echo 0); n=$((n+1)); echo $n > n; echo run $n; exit $((n % 2))`)
	p.Dir = dir
	p.Restart = procfile.RestartAlways
	p.MaxRestarts = 2
	p.RestartWindow = 50 * time.Millisecond // below the first backoff: the window never fails it
	rn := start(t, Options{Config: config(p)})
	// Run 9 is the fifth crash: well past 2 in a row, were the clean exits
	// counted. Wait for run 10, or for the type to fail.
	deadline := time.Now().Add(20 * time.Second)
	for {
		lines, _ := rn.rec.snapshot()
		joined := strings.Join(rn.rec.messages(), "\n")
		if strings.Contains(joined, "failed") {
			t.Fatalf("a worker that exits 0 every other run failed:\n%s", joined)
		}
		if slices.Contains(lines, "job.1 stdout: run 10") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no run 10 within 20s; lines:\n%s\nevents:\n%s", strings.Join(lines, "\n"), joined)
		}
		time.Sleep(10 * time.Millisecond)
	}
	joined := strings.Join(rn.rec.messages(), "\n")
	if n := strings.Count(joined, "job.1 exited (status 1)"); n < 5 {
		t.Fatalf("%d crashes, want 5 in:\n%s", n, joined)
	}
	for _, d := range delays(rn.rec.messages()) {
		if d > 120*time.Millisecond {
			t.Errorf("a crash after a clean exit waits %s, want the first backoff (~100ms), in:\n%s", d, joined)
		}
	}
}

// A worker that is never ready is not healthy, however long it ran before
// its ready.timeout killed it: its crashes stay in a row.
func TestNeverReadyIsNotHealthy(t *testing.T) {
	old := healthyAfter
	healthyAfter = time.Millisecond
	t.Cleanup(func() { healthyAfter = old })
	p := shProc("web", `echo waiting; exec sleep 1000`)
	p.Restart = procfile.RestartAlways
	p.MaxRestarts = 2
	p.RestartWindow = 50 * time.Millisecond
	p.Ready = procfile.Ready{Kind: procfile.ReadyLog, Timeout: 200 * time.Millisecond}
	p.Ready.Log = regexp.MustCompile(`never printed`)
	rn := start(t, Options{Config: config(p)})
	err := rn.wait(t, 15*time.Second)
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("Run = %v, want ErrFailed", err)
	}
	joined := strings.Join(rn.rec.messages(), "\n")
	if !strings.Contains(joined, "web failed: web.1 crashed 3 times in a row") {
		t.Errorf("missing the failed event in:\n%s", joined)
	}
}

func TestBackoffResetsAfterHealthyRun(t *testing.T) {
	old := healthyAfter
	healthyAfter = 200 * time.Millisecond
	t.Cleanup(func() { healthyAfter = old })
	p := shProc("web", `sleep 0.3; exit 1`)
	p.Restart = procfile.RestartOnFailure
	p.MaxRestarts = 3
	rn := start(t, Options{Config: config(p)})
	if err := rn.wait(t, 10*time.Second); !errors.Is(err, ErrFailed) {
		t.Fatalf("Run = %v", err)
	}
	for _, d := range delays(rn.rec.messages()) {
		if d > 120*time.Millisecond {
			t.Errorf("after healthy runs every restart should wait ~100ms, got %s", d)
		}
	}
}

func TestRestartPolicies(t *testing.T) {
	t.Run("never failure exits 1", func(t *testing.T) {
		ok := shProc("ok", `exit 0`)
		bad := shProc("bad", `exit 2`)
		long := shProc("long", `sleep 1000`)
		rn := start(t, Options{Config: config(ok, bad, long)})
		if err := rn.wait(t, 10*time.Second); !errors.Is(err, ErrFailed) {
			t.Fatalf("Run = %v, want ErrFailed", err)
		}
	})
	t.Run("all zero exits 0", func(t *testing.T) {
		a := shProc("a", `exit 0`)
		b := shProc("b", `exit 1`)
		b.Command = `test -f /nonexistent-file-xyz || exit 0`
		b.Restart = procfile.RestartOnFailure
		rn := start(t, Options{Config: config(a, b)})
		if err := rn.wait(t, 10*time.Second); err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	})
}

// skipPortable skips a test of a guarantee only Linux's extras give.
func skipPortable(t *testing.T, why string) {
	t.Helper()
	if Portable {
		t.Skip("portable build (no subreaper, no Pdeathsig): " + why)
	}
}

// parentOf returns field 4 of /proc/PID/stat, or -1.
func parentOf(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	i := strings.LastIndexByte(string(b), ')')
	if err != nil || i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return -1
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

func TestOrphanIsReaped(t *testing.T) {
	skipPortable(t, "orphans are re-parented to init, not to the runner")
	// The subshell exits at once: its sleep is re-parented to us (subreaper)
	// and must be reaped, not left a zombie.
	p := shProc("web", `(sleep 0.5 & echo "orphan $!"); sleep 1000`)
	rn := start(t, Options{Config: config(p)})
	line := rn.rec.waitLine(t, `orphan \d+`, 5*time.Second)
	pid := pidsIn(t, line)[0]
	// The subshell exits right after printing: then the orphan is ours.
	reparented := false
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) && exists(pid); {
		if parentOf(pid) == os.Getpid() {
			reparented = true
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	if !reparented && exists(pid) {
		t.Errorf("orphan %d has parent %d, want the runner %d", pid, parentOf(pid), os.Getpid())
	}
	deadline := time.Now().Add(3 * time.Second)
	for exists(pid) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if exists(pid) {
		t.Errorf("orphan %d was not reaped (alive=%v)", pid, alive(pid))
	}
}

func TestManyShortWorkersLeakNothing(t *testing.T) {
	n := 2000
	if testing.Short() {
		n = 200
	}
	fds := func() int {
		ents, _ := os.ReadDir("/proc/self/fd")
		return len(ents)
	}
	p := &procfile.Process{
		Name: "t", Command: "true", Workers: 1, Dir: os.TempDir(), Env: os.Environ(),
		Restart: procfile.RestartNever, MaxRestarts: 10, RestartWindow: time.Minute,
		StopSignal: syscall.SIGTERM, StopTimeout: time.Second, KillMode: procfile.KillGroup,
		Ready: procfile.Ready{Kind: procfile.ReadyStarted, Timeout: time.Minute},
	}
	noPTY := true
	run := func() {
		rec := &recorder{}
		r, err := New(Options{Config: config(p), Output: rec, ReapAll: true, NoPTY: noPTY})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Run(context.Background()); err != nil {
			t.Fatalf("Run: %v (events %q)", err, rec.messages())
		}
	}
	run() // warm up the reaper and the runtime's threads
	fd0, g0 := fds(), runtime.NumGoroutine()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		run()
	}
	t.Logf("%d workers started and reaped in %s", n, time.Since(t0))
	// With a terminal, workers start through the exec shim: the race-enabled
	// test binary makes that slow, so fewer of them.
	noPTY = false
	t0 = time.Now()
	for i := 0; i < 30; i++ {
		run()
	}
	t.Logf("30 workers with a terminal started and reaped in %s", time.Since(t0))
	deadline := time.Now().Add(5 * time.Second)
	for (fds() > fd0 || runtime.NumGoroutine() > g0) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if fd1, g1 := fds(), runtime.NumGoroutine(); fd1 > fd0 || g1 > g0 {
		t.Errorf("leak after %d workers: fds %d -> %d, goroutines %d -> %d", n, fd0, fd1, g0, g1)
	}
}

// Forks overlap (forkThreads), and a child can exit before its fork has
// registered its pid: the reaper must still hand every exit to its worker,
// not drop it as an orphan's (the worker would never end, nor the run).
func TestOverlappingForksLoseNoExit(t *testing.T) {
	for _, noPTY := range []bool{true, false} {
		p := &procfile.Process{
			Name: "t", Command: "true", Workers: 48, Dir: os.TempDir(), Env: os.Environ(),
			Restart: procfile.RestartNever, MaxRestarts: 10, RestartWindow: time.Minute,
			StopSignal: syscall.SIGTERM, StopTimeout: time.Second, KillMode: procfile.KillGroup,
			Ready: procfile.Ready{Kind: procfile.ReadyStarted, Timeout: time.Minute},
		}
		for round := 0; round < 5; round++ {
			rec := &recorder{}
			r, err := New(Options{Config: config(p), Output: rec, ReapAll: true, NoPTY: noPTY})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- r.Run(context.Background()) }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("noPTY=%v round %d: Run = %v", noPTY, round, err)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("noPTY=%v round %d: Run still going after 30 s; events %q", noPTY, round, rec.messages())
			}
			exited := 0
			_, events := rec.snapshot()
			for _, e := range events {
				if e.Event == "exited" && e.Status != nil && *e.Status == 0 {
					exited++
				}
			}
			if exited != p.Workers {
				t.Fatalf("noPTY=%v round %d: %d workers reported exit status 0, want %d; events %q", noPTY, round, exited, p.Workers, rec.messages())
			}
		}
	}
}
