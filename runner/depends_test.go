package runner

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cluster-run/cluster/procfile"
)

// index is the position of the first entry containing sub, -1 if none.
func index(list []string, sub string) int {
	return slices.IndexFunc(list, func(s string) bool { return strings.Contains(s, sub) })
}

// TestDependsOnOrder: db (ready on a log line) <- api (waits for db ready)
// <- web (waits for api started). They start in that order, and a graceful
// stop goes in reverse: api is signalled only once web is gone, db once api
// is, although each takes a while to stop.
func TestDependsOnOrder(t *testing.T) {
	db := shProc("db", `trap 'echo db got TERM; exit 0' TERM; echo db up; while :; do sleep 0.05; done`)
	db.Ready = procfile.Ready{Kind: procfile.ReadyLog, Log: regexp.MustCompile(`db up`), Timeout: time.Minute}
	api := shProc("api", `trap 'echo api got TERM; sleep 0.2; echo api done; exit 0' TERM; echo api up; while :; do sleep 0.05; done`)
	api.DependsOn = []procfile.Dependency{{Name: "db", Condition: procfile.ConditionReady}}
	web := shProc("web", `trap 'echo web got TERM; sleep 0.2; echo web done; exit 0' TERM; echo web up; while :; do sleep 0.05; done`)
	web.DependsOn = []procfile.Dependency{{Name: "api", Condition: procfile.ConditionStarted}}
	// File order web, api, db: the start order comes from depends_on.
	rn := start(t, Options{Config: config(web, api, db)})
	rn.rec.waitLine(t, `web\.1 stdout: web up`, 10*time.Second)
	rn.rec.waitLine(t, `api\.1 stdout: api up`, 10*time.Second)
	rn.cancel()
	if err := rn.wait(t, 20*time.Second); err != nil {
		t.Fatalf("Run = %v", err)
	}
	lines, _ := rn.rec.snapshot()
	msgs := rn.rec.messages()
	if i, j := index(msgs, "db.1 ready"), index(msgs, "api.1 started"); i < 0 || j < i {
		t.Errorf("api started before db was ready: %q", msgs)
	}
	if i, j := index(msgs, "api.1 started"), index(msgs, "web.1 started"); i < 0 || j < i {
		t.Errorf("web started before api: %q", msgs)
	}
	if !slices.Contains(msgs, "web waiting for api started") || !slices.Contains(msgs, "api waiting for db ready") {
		t.Errorf("no waiting events: %q", msgs)
	}
	order := []string{"web.1 stdout: web done", "api.1 stdout: api got TERM", "api.1 stdout: api done", "db.1 stdout: db got TERM"}
	last := -1
	for _, want := range order {
		i := index(lines, want)
		if i <= last {
			t.Fatalf("stop order: want %q after %q; lines:\n%s", want, order, strings.Join(lines, "\n"))
		}
		last = i
	}
}

// TestDependsOnFailedDependency: a completed dependency that fails keeps
// its dependents (and theirs) from starting, and Run returns ErrFailed.
func TestDependsOnFailedDependency(t *testing.T) {
	migrate := shProc("migrate", `echo migrating; exit 3`)
	web := shProc("web", `echo web ran; sleep 100`)
	web.DependsOn = []procfile.Dependency{{Name: "migrate", Condition: procfile.ConditionCompleted}}
	jobs := shProc("jobs", `echo jobs ran; sleep 100`)
	jobs.DependsOn = []procfile.Dependency{{Name: "web", Condition: procfile.ConditionReady}}
	other := shProc("other", `sleep 100`)
	rn := start(t, Options{Config: config(web, jobs, migrate, other)})
	if err := rn.wait(t, 20*time.Second); !errors.Is(err, ErrFailed) {
		t.Fatalf("Run = %v, want ErrFailed", err)
	}
	msgs := rn.rec.messages()
	for _, want := range []string{"web: not started: migrate failed (exit status 3)", "jobs: not started: web was not started"} {
		if !slices.Contains(msgs, want) {
			t.Errorf("no event %q: %q", want, msgs)
		}
	}
	lines, _ := rn.rec.snapshot()
	if index(lines, "web ran") >= 0 || index(lines, "jobs ran") >= 0 {
		t.Errorf("a dependent ran: %q", lines)
	}
}

// TestDependsOnCompleted: web starts after migrate exited 0, and a type
// added by Apply whose dependency is already met starts at once.
func TestDependsOnCompleted(t *testing.T) {
	migrate := shProc("migrate", `echo migrated`)
	web := shProc("web", `echo web up; sleep 100`)
	web.DependsOn = []procfile.Dependency{{Name: "migrate", Condition: procfile.ConditionCompleted}}
	rn := start(t, Options{Config: config(web, migrate)})
	rn.rec.waitLine(t, `web\.1 stdout: web up`, 10*time.Second)
	msgs := rn.rec.messages()
	if i, j := index(msgs, "migrate.1 exited (status 0)"), index(msgs, "web.1 started"); i < 0 || j < i {
		t.Errorf("web started before migrate completed: %q", msgs)
	}
	jobs := shProc("jobs", `echo jobs up; sleep 100`)
	jobs.DependsOn = []procfile.Dependency{{Name: "migrate", Condition: procfile.ConditionCompleted}, {Name: "web", Condition: procfile.ConditionStarted}}
	if _, err := rn.r.Apply(config(web, migrate, jobs), nil); err != nil {
		t.Fatal(err)
	}
	rn.rec.waitLine(t, `jobs\.1 stdout: jobs up`, 10*time.Second)
	st, err := rn.r.Status()
	if err != nil {
		t.Fatal(err)
	}
	for _, ts := range st.Types {
		if len(ts.WaitingFor) > 0 || ts.NotStarted != "" {
			t.Errorf("%s still waiting: %+v", ts.Name, ts)
		}
	}
}

// TestDependsOnRevived: in watch mode a failed dependency keeps its
// dependents waiting instead of failing the cluster; once it is started
// again and completes, they start.
func TestDependsOnRevived(t *testing.T) {
	ok := filepath.Join(t.TempDir(), "ok")
	migrate := shProc("migrate", `test -f `+ok)
	web := shProc("web", `echo web up; sleep 100`)
	web.DependsOn = []procfile.Dependency{{Name: "migrate", Condition: procfile.ConditionCompleted}}
	rn := start(t, Options{Config: config(web, migrate), Watch: true})
	waitEvent(t, rn, "web: not started: migrate failed (exit status 1)")
	st, err := rn.r.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Types[0].Name != "web" || st.Types[0].NotStarted != "migrate failed (exit status 1)" {
		t.Errorf("status of web: %+v", st.Types[0])
	}
	if err := os.WriteFile(ok, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if did, err := rn.r.StartTypes("migrate"); err != nil || len(did) != 1 || did[0] != "migrate" {
		t.Fatalf("StartTypes = %q, %v", did, err)
	}
	rn.rec.waitLine(t, `web\.1 stdout: web up`, 10*time.Second)
}

func waitEvent(t *testing.T, rn *running, msg string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(rn.rec.messages(), msg) {
		if time.Now().After(deadline) {
			t.Fatalf("no event %q: %q", msg, rn.rec.messages())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDependsOnReachedStays: a condition once reached stays reached. setup
// is ready, then exits; quick is started, then exits; web still starts when
// gate completes later.
func TestDependsOnReachedStays(t *testing.T) {
	open := filepath.Join(t.TempDir(), "open")
	setup := shProc("setup", `echo set; sleep 0.2`)
	setup.Ready = procfile.Ready{Kind: procfile.ReadyLog, Log: regexp.MustCompile(`^set$`), Timeout: time.Minute}
	quick := shProc("quick", `true`)
	gate := shProc("gate", `while [ ! -f `+open+` ]; do sleep 0.05; done`)
	web := shProc("web", `echo web up; sleep 100`)
	web.DependsOn = []procfile.Dependency{
		{Name: "gate", Condition: procfile.ConditionCompleted},
		{Name: "quick", Condition: procfile.ConditionStarted},
		{Name: "setup", Condition: procfile.ConditionReady},
	}
	rn := start(t, Options{Config: config(web, setup, quick, gate)})
	waitEvent(t, rn, "setup.1 exited (status 0)")
	waitEvent(t, rn, "quick.1 exited (status 0)")
	if err := os.WriteFile(open, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	rn.rec.waitLine(t, `web\.1 stdout: web up`, 10*time.Second)
	for _, m := range rn.rec.messages() {
		if strings.Contains(m, "not started") {
			t.Errorf("event %q", m)
		}
	}
}
