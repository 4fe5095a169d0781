package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
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
