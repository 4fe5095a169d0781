package runner

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cluster-run/cluster/procfile"
)

// waitResult is w's result, or a test failure after a generous deadline.
func waitResult(t *testing.T, rn *running, w *Wait) error {
	t.Helper()
	res := make(chan error, 1)
	go func() { res <- w.Result(nil) }()
	select {
	case err := <-res:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("the Wait did not end; events %q", rn.rec.messages())
		return nil
	}
}

// webProc writes V to starts.N in dir, then becomes ready by its log line
// after a pause: a Wait that ends before the line is written ended early.
func webProc(dir, v, script string) *procfile.Process {
	p := shProc("web", script)
	p.Workers = 2
	p.Dir = dir
	p.Env = append(p.Env, "V="+v)
	p.Ready = procfile.Ready{Kind: procfile.ReadyLog, Log: regexp.MustCompile("^up$"), Timeout: time.Minute}
	return p
}

const webScript = `sleep 0.3; echo $V >>starts.$CLUSTER_WORKER; echo up; exec sleep 1000`

func TestReloadWait(t *testing.T) {
	dir := t.TempDir()
	var next atomic.Pointer[procfile.Config]
	next.Store(config(webProc(dir, "1", webScript)))
	rn := start(t, Options{Config: next.Load(), Reread: func() (*procfile.Config, error) {
		if c := next.Load(); c != nil {
			return c, nil
		}
		return nil, errors.New("Clusterfile:3: process.web.workers: not a number")
	}})
	rn.waitStatus(t, func(s Status) bool { return readyCount(s, "web") == 2 }, "2 ready")
	starts := func(i string) string {
		b, _ := os.ReadFile(filepath.Join(dir, "starts."+i))
		return string(b)
	}

	// Done: every new worker ready (it wrote its line before it was) and the old ones gone.
	next.Store(config(webProc(dir, "2", webScript)))
	_, w, err := rn.r.ReloadConfigWait(nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := waitResult(t, rn, w); err != nil {
		t.Fatalf("good reload: %v", err)
	}
	if starts("1") != "1\n2\n" || starts("2") != "1\n2\n" {
		t.Fatalf("the reload ended before both new workers were ready: %q %q", starts("1"), starts("2"))
	}
	st := statusOf(t, rn)
	if len(st.Workers) != 2 || readyCount(st, "web") != 2 || st.Types[0].Reloads != 1 {
		t.Fatalf("after the reload: %+v", st)
	}

	// Aborted: the new worker crashes; the reason names it.
	next.Store(config(webProc(dir, "3", `echo boom; exit 3`)))
	_, w, err = rn.r.ReloadConfigWait(nil, true)
	if err != nil {
		t.Fatal(err)
	}
	err = waitResult(t, rn, w)
	if !errors.Is(err, ErrAborted) || !strings.Contains(err.Error(), "the new web.1 exited before it was ready (status 3)") {
		t.Fatalf("crashing reload: %v", err)
	}

	// A file with errors: the error at once, no Wait.
	next.Store(nil)
	if _, w, err := rn.r.ReloadConfigWait(nil, true); err == nil || w != nil || !strings.Contains(err.Error(), "process.web.workers") {
		t.Fatalf("bad file: %v %v", w, err)
	}

	// A restart of one worker, and a new type in the file: waited for too.
	jobs := shProc("jobs", `sleep 0.3; echo started >>jobs.started; exec sleep 1000`)
	jobs.Dir = dir
	next.Store(config(webProc(dir, "4", webScript), jobs))
	d, w, err := rn.r.ReloadConfigWait([]string{"jobs"}, false)
	if err != nil || len(d.Added) != 1 {
		t.Fatal(d, err)
	}
	if err := waitResult(t, rn, w); err != nil {
		t.Fatalf("reload with a new type: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "jobs.started")); string(b) != "started\n" || !strings.HasSuffix(starts("2"), "4\n") {
		t.Fatalf("the Wait ended before the new type and the changed one were up: %q %q", b, starts("2"))
	}
	did, w, err := rn.r.RestartWait("web.1")
	if err != nil || len(did) != 1 {
		t.Fatal(did, err)
	}
	if err := waitResult(t, rn, w); err != nil {
		t.Fatalf("restart web.1: %v", err)
	}
	if starts("1") != "1\n2\n4\n4\n" || starts("2") != "1\n2\n4\n" {
		t.Fatalf("restart of web.1: %q %q", starts("1"), starts("2"))
	}

	// The cluster stops while a reload runs: aborted, with why.
	next.Store(config(webProc(dir, "5", `exec sleep 1000`), jobs))
	_, w, err = rn.r.ReloadConfigWait(nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := rn.r.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := waitResult(t, rn, w); !errors.Is(err, ErrAborted) || !strings.Contains(err.Error(), "the cluster is stopping") {
		t.Fatalf("stopped meanwhile: %v", err)
	}
	rn.wait(t, 15*time.Second)
}

// A waiting client over the control socket: heartbeats keep it while the
// reload runs, then the last line says it finished.
func TestControlSocketReloadWait(t *testing.T) {
	dir := t.TempDir()
	rn := start(t, Options{Config: config(webProc(dir, "1", `sleep 0.5; echo up; exec sleep 1000`))})
	rn.waitStatus(t, func(s Status) bool { return readyCount(s, "web") == 2 }, "2 ready")
	path := filepath.Join(dir, ".cluster.sock")
	ctl, err := ListenControl(path)
	if err != nil {
		t.Fatal(err)
	}
	ctl.heartbeat = 20 * time.Millisecond
	go ctl.Serve(rn.r)
	defer ctl.Close()
	var first Response
	resp, err := CallWait(path, Request{Cmd: "reload", Args: []string{"web"}}, time.Minute, func(r Response) { first = r })
	if err != nil || !resp.OK || len(first.Lines) == 0 || !strings.Contains(first.Lines[0], "rolling reload of web started") {
		t.Fatalf("reload --wait: %+v %+v %v", first, resp, err)
	}
	if st := statusOf(t, rn); st.Types[0].Reloads != 1 || readyCount(st, "web") != 2 {
		t.Fatalf("answered before the reload finished: %+v", st)
	}
	// A timeout shorter than the reload: the client gives up, the reload goes on.
	_, err = CallWait(path, Request{Cmd: "reload"}, 100*time.Millisecond, nil)
	if !errors.Is(err, ErrWaitTimeout) {
		t.Fatalf("short timeout: %v", err)
	}
	rn.waitStatus(t, func(s Status) bool { return s.Types[0].Reloads == 2 }, "the reload to finish anyway")
}

// A new type that waits for a new one-shot to complete: reload --wait ends
// when its workers are ready, not when the reload found nothing to watch yet.
func TestReloadWaitForAWaitingNewType(t *testing.T) {
	dir := t.TempDir()
	web := webProc(dir, "1", webScript)
	var next atomic.Pointer[procfile.Config]
	next.Store(config(web))
	rn := start(t, Options{Config: next.Load(), Reread: func() (*procfile.Config, error) { return next.Load(), nil }})
	rn.waitStatus(t, func(s Status) bool { return readyCount(s, "web") == 2 }, "2 ready")

	migrate := shProc("migrate", `sleep 0.5; exit 0`)
	migrate.Restart = procfile.RestartNever
	api := shProc("api", `echo api >api.started; echo up; exec sleep 1000`)
	api.Dir = dir
	api.Ready = procfile.Ready{Kind: procfile.ReadyLog, Log: regexp.MustCompile("^up$"), Timeout: time.Minute}
	api.DependsOn = []procfile.Dependency{{Name: "migrate", Condition: procfile.ConditionCompleted}}
	next.Store(config(web, migrate, api))
	_, w, err := rn.r.ReloadConfigWait([]string{"migrate", "api"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := waitResult(t, rn, w); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "api.started")); err != nil {
		t.Errorf("the Wait ended before api started: %v; events %q", err, rn.rec.messages())
	}
	if st := statusOf(t, rn); readyCount(st, "api") != 1 {
		t.Errorf("api not ready when the Wait ended: %+v", st.Workers)
	}
}

// A reload that adds a type whose worker crashes before it is ready is
// aborted with the reason, though the worker is restarted after its backoff:
// before, reload --wait waited for as long as the crash loop lasted.
func TestReloadWaitForANewTypeThatCrashes(t *testing.T) {
	web := shProc("web", "exec sleep 1000")
	var next atomic.Pointer[procfile.Config]
	next.Store(config(web))
	rn := start(t, Options{Config: next.Load(), Reread: func() (*procfile.Config, error) { return next.Load(), nil }})
	rn.waitStatus(t, func(s Status) bool { return readyCount(s, "web") == 1 }, "1 ready")

	crashy := shProc("crashy", "sleep 0.2; exit 1")
	crashy.Restart = procfile.RestartAlways // restarted after each crash, as by default
	crashy.Ready = procfile.Ready{Kind: procfile.ReadyLog, Log: regexp.MustCompile("^up$"), Timeout: time.Minute}
	next.Store(config(web, crashy))
	_, w, err := rn.r.ReloadConfigWait([]string{"crashy"}, false)
	if err != nil {
		t.Fatal(err)
	}
	err = waitResult(t, rn, w)
	if !errors.Is(err, ErrAborted) || !strings.Contains(err.Error(), "the new crashy.1 exited before it was ready (status 1)") {
		t.Fatalf("Wait = %v, want aborted: the new crashy.1 exited before it was ready (status 1)", err)
	}
}
