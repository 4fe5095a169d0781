package runner

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// abstractName is a name no other test uses.
func abstractName(t *testing.T) string {
	return fmt.Sprintf("@cluster-test-%d-%s-%d", os.Getpid(), t.Name(), time.Now().UnixNano())
}

// On Linux a control socket needs no directory: in the abstract namespace
// it is bound, answers, refuses a second runner, and leaves nothing behind.
func TestControlSocketAbstract(t *testing.T) {
	if !AbstractNamespace {
		name := "@cluster-none"
		if _, err := ListenControl(name); err == nil || !strings.Contains(err.Error(), "no abstract socket namespace") {
			t.Fatalf("ListenControl(%s) without an abstract namespace = %v", name, err)
		}
		return
	}
	name := abstractName(t)
	rn := start(t, Options{Config: config(shProc("web", `echo up; exec sleep 1000`))})
	// Bound once the worker has started: a child between fork and exec
	// holds a duplicate of every descriptor, and the name with it.
	rn.rec.waitLine(t, `^web\.1 stdout: up$`, 10*time.Second)
	ctl, err := ListenControl(name)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	served := make(chan struct{})
	go func() {
		ctl.Serve(rn.r)
		close(served)
	}()
	if _, err := ListenControl(name); !errors.Is(err, ErrClusterRunning) {
		t.Errorf("second ListenControl(%s) = %v, want ErrClusterRunning", name, err)
	}
	if p, uid, err := ProbeControl(name); p != ProbeLive || uid != os.Geteuid() || err != nil {
		t.Errorf("ProbeControl = %v, uid %d, %v; want live, uid %d", p, uid, err, os.Geteuid())
	}
	resp, err := Call(name, Request{Cmd: "status"})
	if err != nil || !resp.OK || resp.Status == nil {
		t.Fatalf("status over %s: %+v %v", name, resp, err)
	}
	ctl.Close()
	<-served // the socket is closed once Accept has returned
	if p, _, _ := ProbeControl(name); p != ProbeAbsent {
		t.Errorf("after Close, ProbeControl = %v, want absent", p)
	}
	again, err := ListenControl(name)
	if err != nil {
		t.Fatalf("the name is not free after Close: %v", err)
	}
	again.Close()
}

// An abstract socket has no file mode or owner: anyone may bind any name.
// One held by another user is never used or talked to; the runner says
// whose it is, and a client refuses it after connecting (SO_PEERCRED).
func TestControlSocketAbstractHeldByOtherUser(t *testing.T) {
	if !AbstractNamespace {
		t.Skip("no abstract socket namespace")
	}
	if os.Getuid() != 0 {
		t.Skip("needs root to hold a name as another user")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("needs setpriv (util-linux) to hold a name as another user")
	}
	name := abstractName(t)
	self, _ := os.Executable()
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", self)
	cmd.Env = append(os.Environ(), "RUNNER_TEST_HELPER=holdname", "CTL_SOCK="+name)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	}()
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "listening\n" {
		t.Fatalf("helper as uid 65534: %q", line)
	}
	if p, uid, _ := ProbeControl(name); p != ProbeLive || uid != 65534 {
		t.Errorf("ProbeControl = %v, uid %d; want live, uid 65534", p, uid)
	}
	_, err = ListenControl(name)
	if err == nil || errors.Is(err, ErrClusterRunning) || !strings.Contains(err.Error(), "held by uid 65534") {
		t.Errorf("ListenControl on a name uid 65534 holds = %v", err)
	}
	if _, err := DialControl(name); err == nil || !strings.Contains(err.Error(), "held by uid 65534, not by you (uid 0): not trusting it") {
		t.Errorf("DialControl to a name uid 65534 holds = %v", err)
	}
}

// With no place for a socket the cluster runs without one: Serve says why,
// once, in the cluster's output, and Close and Shutdown have nothing to do.
func TestNoControlSaysWhy(t *testing.T) {
	rec := &recorder{}
	r, err := New(Options{Config: config(shProc("web", "true")), Output: rec})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctl := NoControl("no place for the control socket (test)")
	ctl.Serve(r) // returns at once
	if got := rec.messages(); len(got) != 1 || got[0] != "no place for the control socket (test)" {
		t.Errorf("messages = %q", got)
	}
	if ctl.Path() != "" {
		t.Errorf("Path = %q", ctl.Path())
	}
	if err := ctl.Shutdown(time.Second); err != nil {
		t.Errorf("Shutdown = %v", err)
	}
}

// AlsoAt: the runner answers at its socket file and at the abstract name;
// a second runner's AlsoAt on that name is ErrClusterRunning; Close frees
// both.
func TestControlSocketAlsoAt(t *testing.T) {
	if !AbstractNamespace {
		t.Skip("no abstract socket namespace")
	}
	path := filepath.Join(t.TempDir(), "ctl.sock")
	name := abstractName(t)
	rn := start(t, Options{Config: config(shProc("web", `echo up; exec sleep 1000`))})
	rn.rec.waitLine(t, `^web\.1 stdout: up$`, 10*time.Second) // no fork holds the sockets below
	ctl, err := ListenControl(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	if err := ctl.AlsoAt(name); err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		ctl.Serve(rn.r)
		close(served)
	}()
	for _, at := range []string{path, name, path} {
		if resp, err := Call(at, Request{Cmd: "status"}); err != nil || !resp.OK || resp.Status == nil {
			t.Fatalf("status at %s: %+v %v", at, resp, err)
		}
	}
	other, err := ListenControl(filepath.Join(t.TempDir(), "other.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.AlsoAt(name); !errors.Is(err, ErrClusterRunning) {
		t.Errorf("a second runner's AlsoAt(%s) = %v, want ErrClusterRunning", name, err)
	}
	ctl.Close()
	<-served
	if p, _, _ := ProbeControl(name); p != ProbeAbsent {
		t.Errorf("after Close, %s: %v", name, p)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Close, %s: %v", path, err)
	}
}
