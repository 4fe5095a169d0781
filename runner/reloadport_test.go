package runner

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cluster-run/cluster/procfile"
)

// portWeb is the helper HTTP server as a type without listen: it binds its
// foreman PORT (as a Procfile web process does), from a base port that was
// free a moment ago.
func portWeb(t *testing.T, dir string) (*procfile.Process, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	p := helperProc("web", procfile.SocketInherit, 1)
	p.Listen, p.Dir = nil, dir
	p.Ready = procfile.Ready{Kind: procfile.ReadyTCP, Timeout: 2 * time.Second}
	return p, port
}

// A rolling reload of a type without listen whose worker holds its foreman
// PORT stops that worker first: its replacement gets the same PORT, could
// not bind it beside the old one, and a probe of it would reach the old
// one. Before, the replacement was called ready at once (the old answered)
// and then failed to bind; a broken release replaced a working one.
func TestReloadOfWorkerHoldingItsPort(t *testing.T) {
	dir := t.TempDir()
	p, port := portWeb(t, dir)
	rn := start(t, Options{Config: config(p), PortBase: port})
	rn.rec.waitLine(t, "listening on", 15*time.Second)
	before := rn.pids(t, "web")

	w, err := rn.r.reload([]string{"web"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := waitResult(t, rn, w); err != nil {
		t.Fatalf("reload: %v; events %q", err, rn.rec.messages())
	}
	after := rn.pids(t, "web")
	if len(after) != 1 || after[0] == before[0] {
		t.Fatalf("web pids %v before, %v after the reload", before, after)
	}
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("the new worker does not serve its PORT: %v; events %q", err, rn.rec.messages())
	}
	c.Close()
	lines, _ := rn.rec.snapshot()
	if out := strings.Join(lines, "\n"); strings.Contains(out, "address already in use") {
		t.Fatalf("a replacement could not bind its PORT:\n%s", out)
	}

	// A broken release (it never listens): the reload is aborted, not
	// called done, and the index runs under the restart policy.
	os.WriteFile(filepath.Join(dir, "broken"), nil, 0o644)
	w, err = rn.r.reload([]string{"web"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := waitResult(t, rn, w); err == nil || !strings.Contains(err.Error(), "restarts under its restart policy") {
		t.Fatalf("reload of a release that never listens: %v; events %q", err, rn.rec.messages())
	}
	os.Remove(filepath.Join(dir, "broken"))
	rn.waitStatus(t, func(st Status) bool { return len(st.Workers) == 1 && st.Types[0].Ready == 1 }, "web.1 restarted and ready once fixed")
}

// A reload of a one-shot type (restart = "on-failure") is done, not
// aborted: one that completed runs again (its code may have changed), and
// a running one's replacement that exits 0 did its work. Before, both
// ended in "exited before it was ready (status 0)" and reload --wait
// failed.
func TestReloadOfOneShot(t *testing.T) {
	dir := t.TempDir()
	p := shProc("migrate", `echo "run $(cat `+dir+`/n 2>/dev/null)"; [ -f `+dir+`/long ] && exec sleep 1000; exit 0`)
	p.Restart = procfile.RestartOnFailure
	// The default of a type without listen: ready once its PORT accepts
	// or after 2 s, so a quick one-shot exits before it is ready.
	p.Ready = procfile.Ready{Kind: procfile.ReadyStarted, PortOrStarted: true, Timeout: time.Minute}
	keep := shProc("web", "exec sleep 1000") // holds the cluster while migrate is done
	rn := start(t, Options{Config: config(p, keep)})
	rn.waitEvents(t, "migrate.1 exited (status 0)", 1, 15*time.Second)

	os.WriteFile(filepath.Join(dir, "n"), []byte("2"), 0o644)
	w, err := rn.r.reload([]string{"migrate"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := waitResult(t, rn, w); err != nil {
		t.Fatalf("reload of a completed one-shot: %v; events %q", err, rn.rec.messages())
	}
	rn.rec.waitLine(t, "run 2$", 15*time.Second)

	// Now it runs (long): its replacement completes at once.
	os.WriteFile(filepath.Join(dir, "long"), nil, 0o644)
	if w, err = rn.r.reload([]string{"migrate"}, true); err != nil {
		t.Fatal(err)
	}
	if err := waitResult(t, rn, w); err != nil {
		t.Fatalf("reload to start the long run: %v; events %q", err, rn.rec.messages())
	}
	rn.rec.waitLine(t, "run 2$", 15*time.Second)
	os.Remove(filepath.Join(dir, "long"))
	os.WriteFile(filepath.Join(dir, "n"), []byte("3"), 0o644)
	if w, err = rn.r.reload([]string{"migrate"}, true); err != nil {
		t.Fatal(err)
	}
	if err := waitResult(t, rn, w); err != nil {
		t.Fatalf("reload of a running one-shot whose replacement completes: %v; events %q", err, rn.rec.messages())
	}
	rn.rec.waitLine(t, "run 3$", 15*time.Second)
	rn.waitStatus(t, func(st Status) bool {
		for _, ty := range st.Types {
			if ty.Name == "migrate" {
				return ty.Completed
			}
		}
		return false
	}, "migrate completed, its old long run stopped")
}

// A type without listen whose own env sets PORT gets that PORT, not
// foreman's numbering, and everything that looks at a worker's PORT looks
// at that one: the readiness probe, and a reload, which stops the worker
// holding it before its replacement starts. Before, foreman's PORT replaced
// the type's own.
func TestOwnPortIsTheWorkersPort(t *testing.T) {
	p, port := portWeb(t, t.TempDir())
	p.Env = append(p.Env, "PORT="+strconv.Itoa(port))
	p.EnvFrom = map[string]procfile.EnvSource{"PORT": {Where: "Clusterfile:3: process.web.env.PORT", Own: true}}
	rn := start(t, Options{Config: config(p)}) // base 5000: not the worker's PORT
	rn.waitStatus(t, func(st Status) bool { return len(st.Types) == 1 && st.Types[0].Ready == 1 }, "web.1 ready")
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("web.1 does not serve its own PORT %d: %v; events %q", port, err, rn.rec.messages())
	}
	c.Close()

	w, err := rn.r.reload([]string{"web"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := waitResult(t, rn, w); err != nil {
		t.Fatalf("reload: %v; events %q", err, rn.rec.messages())
	}
	rn.waitEvents(t, fmt.Sprintf("web.1 holds its PORT %d: stopping it before its replacement starts", port), 1, 5*time.Second)
}
