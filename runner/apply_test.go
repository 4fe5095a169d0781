package runner

import (
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cluster-run/cluster/procfile"
)

// pids returns the pid of each worker of process from Status (the
// supervisor's view, safe to read while it changes the types).
func (rn *running) pids(t *testing.T, process string) []int {
	t.Helper()
	st, err := rn.r.Status()
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, w := range st.Workers {
		if w.Process == process && w.PID > 0 {
			out = append(out, w.PID)
		}
	}
	return out
}

// sleeper is a type that prints its version and then runs until stopped.
func sleeper(name, version string) *procfile.Process {
	p := shProc(name, `echo "$CLUSTER_PROCESS.$CLUSTER_WORKER version $VERSION"; exec sleep 600`)
	p.Env = append(p.Env, "VERSION="+version)
	p.Restart = procfile.RestartAlways
	return p
}

func withVersion(p *procfile.Process, version string) *procfile.Process {
	c := *p
	c.Env = append(slices.Clone(p.Env), "VERSION="+version)
	return &c
}

func TestApplyRollsChangedTypes(t *testing.T) {
	web := helperProc("web", procfile.SocketInherit, 2)
	jobs := sleeper("jobs", "1")
	same := sleeper("same", "1")
	rn := start(t, Options{Config: config(web, jobs, same)})
	rn.waitEvents(t, " ready", 4, 20*time.Second)
	rn.rec.waitLine(t, `jobs.1 stdout: jobs.1 version 1`, 10*time.Second)
	oldWeb, oldJobs, oldSame := rn.pids(t, "web"), rn.pids(t, "jobs"), rn.pids(t, "same")

	l := startLoad("http://" + rn.addr(t, "web") + "/")
	d, err := rn.r.Apply(config(withVersion(web, "2"), sleeper("jobs", "2"), same), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Changed, []string{"web", "jobs"}) || len(d.Added)+len(d.Removed)+len(d.Scaled) > 0 {
		t.Errorf("diff %+v, want web and jobs changed and nothing else", d)
	}
	rn.waitEvents(t, "web reloaded", 1, 30*time.Second)
	rn.waitEvents(t, "jobs reloaded", 1, 30*time.Second)
	ok, errs, _ := l.finish()
	if len(errs) > 0 || ok == 0 {
		t.Errorf("requests during the reload: %d answered, failures %v", ok, errs)
	}
	rn.rec.waitLine(t, `jobs.1 stdout: jobs.1 version 2`, 10*time.Second)
	for _, pid := range append(oldWeb, oldJobs...) {
		if slices.Contains(append(rn.pids(t, "web"), rn.pids(t, "jobs")...), pid) || alive(pid) {
			t.Errorf("old worker %d still runs after the reload", pid)
		}
	}
	if got := rn.pids(t, "same"); !slices.Equal(got, oldSame) {
		t.Errorf("unchanged type was replaced: %v -> %v", oldSame, got)
	}
}

func TestApplyAddsRemovesAndScales(t *testing.T) {
	web := helperProc("web", procfile.SocketInherit, 1)
	old := sleeper("old", "1")
	rn := start(t, Options{Config: config(web, old)})
	rn.waitEvents(t, " ready", 2, 20*time.Second)
	oldPids := rn.pids(t, "old")
	webPids := rn.pids(t, "web")
	addr := rn.addr(t, "web")

	web3 := *web
	web3.Workers = 3
	d, err := rn.r.Apply(config(&web3, sleeper("added", "1")), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Added, []string{"added"}) || !slices.Equal(d.Removed, []string{"old"}) ||
		!slices.Equal(d.Scaled, []string{"web: 1 -> 3"}) || len(d.Changed) > 0 || len(d.Rolled) > 0 {
		t.Errorf("diff %+v", d)
	}
	rn.rec.waitLine(t, `added.1 stdout: added.1 version 1`, 10*time.Second)
	rn.waitEvents(t, "old stopped and removed", 1, 20*time.Second)
	for _, pid := range oldPids {
		if alive(pid) {
			t.Errorf("worker %d of the removed type still runs", pid)
		}
	}
	rn.waitEvents(t, "web.3 ready", 1, 20*time.Second)
	if got := rn.pids(t, "web"); len(got) != 3 || got[0] != webPids[0] {
		t.Errorf("web workers %v, want 3 with web.1 kept (%d)", got, webPids[0])
	}
	st, _ := rn.r.Status()
	var names []string
	for _, ty := range st.Types {
		names = append(names, ty.Name)
	}
	if !slices.Equal(names, []string{"web", "added"}) {
		t.Errorf("types after apply: %v", names)
	}
	l := startLoad("http://" + addr + "/")
	for deadline := time.Now().Add(10 * time.Second); l.ok.Load() < 30 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if ok, errs, _ := l.finish(); len(errs) > 0 || ok < 30 {
		t.Errorf("web after scaling: %d ok, failures %v", ok, errs)
	}
}

func TestApplyBadConfigChangesNothing(t *testing.T) {
	web := sleeper("web", "1")
	rn := start(t, Options{Config: config(web)})
	rn.waitEvents(t, "web.1 started", 1, 10*time.Second)
	pids := rn.pids(t, "web")

	bad := sleeper("web", "2")
	bad.Command = "/nonexistent/program"
	bad.Shell = false
	added := sleeper("added", "1")
	_, err := rn.r.Apply(config(bad, added), nil)
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/program") {
		t.Fatalf("Apply with a missing program: %v", err)
	}
	rn.waitEvents(t, "the file has errors: nothing changed", 1, time.Second)
	found := false
	for _, m := range rn.rec.messages() {
		found = found || strings.Contains(m, "/nonexistent/program")
	}
	if !found {
		t.Errorf("the error was not printed as an event: %q", rn.rec.messages())
	}
	if _, err := rn.r.Apply(config(web), []string{"nope"}); err == nil {
		t.Error("Apply rolling an unknown type succeeded")
	}
	// A new type whose socket cannot be bound: nothing starts.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	api := helperProc("api", procfile.SocketInherit, 1)
	api.Listen = []procfile.Address{{Network: "tcp", Addr: taken.Addr().String(), Raw: taken.Addr().String()}}
	if _, err := rn.r.Apply(config(web, api), nil); err == nil || !strings.Contains(err.Error(), "api: listen") {
		t.Errorf("Apply with a taken address: %v", err)
	}
	st, err := rn.r.Status()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Types) != 1 || !slices.Equal(rn.pids(t, "web"), pids) {
		t.Errorf("a rejected file changed the cluster: %+v", st)
	}
}

func TestApplyRestartNeededAndRoll(t *testing.T) {
	web := helperProc("web", procfile.SocketInherit, 1)
	rn := start(t, Options{Config: config(web)})
	rn.waitEvents(t, " ready", 1, 20*time.Second)
	pids := rn.pids(t, "web")

	moved := withVersion(web, "2")
	moved.Socket = procfile.SocketProxy // a socket mode cannot change live (a listen list can: relisten.txtar)
	cfg := config(moved)
	cfg.Name = "renamed"
	d, err := rn.r.Apply(cfg, []string{"web"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Restart, []string{"name", "web: listen"}) || len(d.Changed) > 0 || !slices.Equal(d.Rolled, []string{"web"}) {
		t.Errorf("diff %+v", d)
	}
	rn.waitEvents(t, "web: listen changed: restart the cluster to apply", 1, time.Second)
	rn.waitEvents(t, "name changed: restart the cluster to apply", 1, time.Second)
	rn.waitEvents(t, "web reloaded", 1, 30*time.Second)
	if got := rn.pids(t, "web"); len(got) != 1 || got[0] == pids[0] {
		t.Errorf("web not rolled: %v -> %v", pids, got)
	}
	if err := rn.r.Stop(); err != nil && !errors.Is(err, ErrNotRunning) {
		t.Fatal(err)
	}
	if err := rn.wait(t, 20*time.Second); err != nil {
		t.Errorf("Run: %v", err)
	}
}
