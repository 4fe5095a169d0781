package runner

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// squatAbstract holds name as a squatter does: listen(0) and one pending
// connection, so that the backlog is full and every connect to it fails
// with EAGAIN (no connection: SO_PEERCRED cannot say whose it is).
func squatAbstract(t *testing.T, name string) {
	t.Helper()
	ln, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(ln) })
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
	t.Cleanup(func() { unix.Close(c) })
	if err := unix.Connect(c, &unix.SockaddrUnix{Name: name}); err != nil {
		t.Fatal(err)
	}
	if p, _, err := ProbeControl(name); p != ProbeBlocked || !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("the squatted %s probes %v, %v; want blocked, EAGAIN", name, p, err)
	}
}

// Any user may bind any abstract name: one held with a full backlog (whose
// it is cannot be told) stopped `cluster run` as "another cluster is
// running here (... cannot be reached: resource temporarily unavailable)".
// It blocks no start; binding the name itself says why not, in one line,
// and is not ErrClusterRunning.
func TestControlSocketAbstractSquatted(t *testing.T) {
	if !AbstractNamespace {
		t.Skip("no abstract socket namespace")
	}
	name := abstractName(t)
	squatAbstract(t, name)
	if err := CheckControl(name); err != nil {
		t.Errorf("CheckControl on a squatted name = %v, want nil", err)
	}
	_, err := ListenControl(name)
	if err == nil || errors.Is(err, ErrClusterRunning) || strings.Contains(err.Error(), "\n") ||
		!strings.Contains(err.Error(), name+" is held by another socket that accepts no connections (resource temporarily unavailable), of unknown uid: not using it") {
		t.Errorf("ListenControl on a squatted name = %v", err)
	}
	// A runner whose socket is a file goes on without the name.
	ctl, err := ListenControl(filepath.Join(t.TempDir(), "ctl.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	if err := ctl.AlsoAt(name); err == nil || errors.Is(err, ErrClusterRunning) {
		t.Errorf("AlsoAt on a squatted name = %v", err)
	}
}
