//go:build linux && !portable

package runner

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The exec shim runs from earlyshim's initialiser: the worker is exec'd
// before this package (and the rest of the binary) is initialised, with
// LISTEN_PID set to its own pid, as runner.Shim would.
func TestShimExecsBeforeTheBinarysInit(t *testing.T) {
	cmd := exec.Command(os.Args[0], ShimCommand, "-1", "1", "3", strconv.Itoa(os.Getpid()), "/bin/sh", "sh", "-c", `echo "$LISTEN_PID $$"`)
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	// This package's tests run the reaper in "all" mode, which may reap the
	// child first, as an orphan: Wait then says ECHILD, the output is whole.
	if err != nil && !errors.Is(err, syscall.ECHILD) {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	f := strings.Fields(string(out))
	if len(f) != 2 || f[0] != f[1] {
		t.Errorf("LISTEN_PID and the worker's pid: %q, want the same pid twice", out)
	}
	if !strings.Contains(stderr.String(), "init ") {
		t.Fatalf("no init trace: %q", stderr.String())
	}
	if strings.Contains(stderr.String(), "init github.com/cluster-run/cluster/runner @") {
		t.Errorf("the runner package was initialised before the exec:\n%s", stderr.String())
	}
}
