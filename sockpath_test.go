package main

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cluster-run/cluster/runner"
)

// The last place for the control socket is /tmp/cluster-UID whatever
// $TMPDIR says: a runner and a client started with different TMPDIRs (ssh,
// cron, sudo, macOS's per-user /var/folders) look in the same places.
func TestControlSocketFallbackIgnoresTMPDIR(t *testing.T) {
	t.Setenv("CLUSTER_SOCKET", "")
	t.Setenv("XDG_RUNTIME_DIR", "")
	dir := t.TempDir()
	t.Setenv("TMPDIR", filepath.Join(dir, "runner-tmp"))
	runnerSees := socketCandidates(dir)
	t.Setenv("TMPDIR", filepath.Join(dir, "client-tmp"))
	clientSees := socketCandidates(dir)
	if !slices.Equal(runnerSees, clientSees) {
		t.Fatalf("the runner looks at %q, a client with another TMPDIR at %q", runnerSees, clientSees)
	}
	last := runnerSees[len(runnerSees)-1]
	if runner.IsAbstract(last) { // Linux: the abstract socket after it
		last = runnerSees[len(runnerSees)-2]
	}
	if want := "/tmp/cluster-" + strconv.Itoa(os.Getuid()); filepath.Dir(last) != want {
		t.Errorf("last candidate %s, want it in %s", last, want)
	}
}

// A directory reached through a symlink is the same cluster as its real
// path: a runner started in /plink (a link to /p) and a client in /p look
// at the same places (the runner bound /tmp/cluster-0/plink-HASH.sock, the
// client looked for p-OTHERHASH.sock and a second runner started).
func TestControlSocketSymlinkedDirectory(t *testing.T) {
	t.Setenv("CLUSTER_SOCKET", "")
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/test")
	base := t.TempDir()
	real := filepath.Join(base, "p")
	link := filepath.Join(base, "plink")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	viaLink, viaReal := socketCandidates(link), socketCandidates(real)
	if !slices.Equal(viaLink, viaReal) {
		t.Fatalf("through the link: %q\nthrough the real path: %q", viaLink, viaReal)
	}
	for _, p := range viaLink {
		if strings.Contains(p, "plink") {
			t.Errorf("%s is named after the link, not the directory", p)
		}
	}
}

// staleSocket leaves a socket file at path that nobody listens on: what a
// runner killed with SIGKILL leaves behind.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
}

// liveSocket listens at path until the test ends, accepting and closing
// connections, in a directory made 0700 as the runner makes it.
func liveSocket(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

// A stale .cluster.sock (the runner was killed, then the directory became
// read-only) does not hide the runner that answers at the next place:
// clients said "not running (no control socket answers at
// /b/.cluster.sock)". A socket that refuses connections is skipped.
func TestControlSocketStaleSocketIsSkipped(t *testing.T) {
	t.Setenv("CLUSTER_SOCKET", "")
	dir := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	cands := socketCandidates(dir)
	staleSocket(t, cands[0])
	liveSocket(t, cands[1])
	got, err := findControl(dir)
	if err != nil || got != cands[1] {
		t.Fatalf("findControl = %q, %v; want the live %s", got, err, cands[1])
	}

	// Only the stale one: not running, and said why.
	t.Setenv("XDG_RUNTIME_DIR", "")
	_, err = findControl(dir)
	if !errors.Is(err, runner.ErrNotRunning) || !strings.Contains(err.Error(), cands[0]+" refuses connections") {
		t.Fatalf("findControl with a stale socket only = %v", err)
	}
}

// With no place for the control socket, the warning says what to set: the
// error it replaces ("no place for the control socket: ...") named none.
func TestControlSocketNoPlaceSaysWhatToDo(t *testing.T) {
	msg := noPlace([]string{"/app: read-only file system"})
	for _, want := range []string{"(/app: read-only file system)", "this cluster runs", "cluster status", "CLUSTER_SOCKET", "XDG_RUNTIME_DIR", "docker run --tmpfs /tmp"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q does not say %q", msg, want)
		}
	}
}

// A runner of this directory found at any place a client looks refuses a
// second one, also where the second would bind elsewhere: here the first
// answers at /tmp/cluster-UID (it started when the directory was
// read-only, or had another XDG_RUNTIME_DIR), and the directory is
// writable now. The second bound .cluster.sock beside it, and both ran.
func TestControlSocketRunnerAtAnyPlaceRefusesSecond(t *testing.T) {
	t.Setenv("CLUSTER_SOCKET", "")
	t.Setenv("XDG_RUNTIME_DIR", "")
	dir := t.TempDir()
	cands := socketCandidates(dir)
	tmpPlace := cands[1]
	liveSocket(t, tmpPlace)
	t.Cleanup(func() { os.Remove(tmpPlace) })
	ctl, err := listenControl(dir)
	if err == nil {
		ctl.Close()
		t.Fatalf("a second runner bound %s beside the one at %s", ctl.Path(), tmpPlace)
	}
	want := "another cluster is running here (control socket " + tmpPlace + " answers)"
	if !errors.Is(err, runner.ErrClusterRunning) || !strings.Contains(err.Error(), want) {
		t.Fatalf("listenControl = %v\nwant %s", err, want)
	}
}

// A runner whose socket is in its $XDG_RUNTIME_DIR also answers at the
// abstract name, where every client and runner looks last: one without
// that variable finds it (cluster stop works) and is refused, where it
// bound /tmp/cluster-UID and both ran.
func TestControlSocketXDGRunnerFoundWithoutXDG(t *testing.T) {
	if !runner.AbstractNamespace {
		t.Skip("no abstract socket namespace: a runner in XDG_RUNTIME_DIR is found only with the same XDG_RUNTIME_DIR")
	}
	t.Setenv("CLUSTER_SOCKET", "")
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	// A .cluster.sock path over the kernel's limit is skipped, as a
	// read-only directory's is.
	base := t.TempDir()
	dir := filepath.Join(base, strings.Repeat("d", max(1, 110-len(base))))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	first, err := listenControl(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	withXDG := socketCandidates(dir)
	if first.Path() != withXDG[1] {
		t.Fatalf("first runner at %s, want %s", first.Path(), withXDG[1])
	}
	t.Setenv("XDG_RUNTIME_DIR", "")
	abstract := socketCandidates(dir)[2]
	if got, err := findControl(dir); err != nil || got != abstract {
		t.Errorf("a client without XDG_RUNTIME_DIR: findControl = %q, %v; want %s", got, err, abstract)
	}
	second, err := listenControl(dir)
	if err == nil {
		second.Close()
		t.Fatalf("a second runner without XDG_RUNTIME_DIR bound %s", second.Path())
	}
	if !errors.Is(err, runner.ErrClusterRunning) || !strings.Contains(err.Error(), abstract) {
		t.Fatalf("listenControl without XDG_RUNTIME_DIR = %v", err)
	}
}
