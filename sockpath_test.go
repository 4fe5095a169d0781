package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
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
