package main

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cluster-run/cluster/runner"
)

// Any local user could stop `cluster run` from starting: bind the abstract
// name (printed by `cluster status`), listen(0) and fill the backlog with one
// connect; the runner took the unreachable name for a running cluster and
// exited 2 ("another cluster is running here (control socket @cluster-0-...
// exists and cannot be reached: resource temporarily unavailable)"). It
// starts at .cluster.sock.
func TestControlSocketSquattedAbstractNameBlocksNoStart(t *testing.T) {
	if !runner.AbstractNamespace {
		t.Skip("no abstract socket namespace")
	}
	t.Setenv("CLUSTER_SOCKET", "")
	t.Setenv("XDG_RUNTIME_DIR", "")
	dir := t.TempDir()
	cands := socketCandidates(dir)
	name := cands[len(cands)-1]
	ln, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ln)
	if err := unix.Bind(ln, &unix.SockaddrUnix{Name: name}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(ln, 0); err != nil {
		t.Fatal(err)
	}
	c, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(c)
	if err := unix.Connect(c, &unix.SockaddrUnix{Name: name}); err != nil {
		t.Fatal(err)
	}
	if p, _, _ := runner.ProbeControl(name); p != runner.ProbeBlocked {
		t.Fatalf("the squatted %s probes %v, want blocked", name, p)
	}
	ctl, err := listenControl(dir)
	if err != nil {
		t.Fatalf("listenControl with %s squatted = %v", name, err)
	}
	defer ctl.Close()
	if ctl.Path() != cands[0] {
		t.Errorf("control socket at %s, want %s", ctl.Path(), cands[0])
	}
}
