package runner

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// `cluster stop` while -- COMMAND runs: COMMAND's stop and the cluster's
// share one shutdown_timeout, and COMMAND's SIGKILL takes its children
// too. Before, a COMMAND and a worker that both ignore SIGTERM took twice
// shutdown_timeout, and COMMAND's child outlived its SIGKILL (to be killed
// at the end as a worker's leftover).
func TestExecStopOneDeadline(t *testing.T) {
	if Portable {
		t.Skip("the portable path has no /proc to find COMMAND's children")
	}
	dir := t.TempDir()
	p := shProc("web", `trap '' TERM; echo up; exec sleep 1000`)
	p.StopTimeout = time.Minute
	cfg := config(p)
	cfg.ShutdownTimeout = 3 * time.Second
	rn := start(t, Options{Config: cfg})
	if err := <-rn.r.Ready(); err != nil {
		t.Fatal(err)
	}
	childFile := filepath.Join(dir, "child.pid")
	type result struct {
		code int
		err  error
	}
	res := make(chan result, 1)
	go func() {
		code, _, err := rn.r.Exec("", []string{"sh", "-c", `trap '' TERM; sleep 300 & echo $! >` + childFile + `.tmp; mv ` + childFile + `.tmp ` + childFile + `; wait`}, os.Environ(), nil, cfg.ShutdownTimeout)
		res <- result{code, err}
	}()
	var child int
	for deadline := time.Now().Add(15 * time.Second); child == 0; {
		if b, err := os.ReadFile(childFile); err == nil {
			child, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		} else if time.Now().After(deadline) {
			t.Fatal("COMMAND did not start its child")
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	stopped := time.Now()
	if rn.r.stopCommand() == "" {
		t.Fatal("no COMMAND to stop")
	}
	var got result
	select {
	case got = <-res:
	case <-time.After(30 * time.Second):
		t.Fatal("Exec did not return")
	}
	if got.err != nil || got.code != 137 {
		t.Fatalf("Exec = %d, %v; want 137", got.code, got.err)
	}
	for deadline := time.Now().Add(time.Second); alive(child); {
		if time.Now().After(deadline) {
			t.Fatalf("COMMAND's child %d outlived COMMAND's SIGKILL", child)
		}
		time.Sleep(10 * time.Millisecond)
	}
	rn.cancel() // as main does once Exec returned: the cluster's stop
	rn.wait(t, 30*time.Second)
	// One shutdown_timeout (3s) and the hard grace at most; twice it before.
	if d := time.Since(stopped); d > cfg.ShutdownTimeout+hardGrace+time.Second {
		t.Errorf("cluster stop took %s with shutdown_timeout %s; want one deadline for COMMAND and the cluster", d.Round(time.Millisecond), cfg.ShutdownTimeout)
	}
}
