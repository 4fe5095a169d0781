package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// clusterCommand runs this test binary as `cluster` (testscript.Main
// dispatches on the name it is started as).
func clusterCommand(t *testing.T, dir string, args ...string) *exec.Cmd {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cluster")
	if err := os.Symlink(os.Args[0], bin); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "CLUSTER_SOCKET=")
	return cmd
}

// waitFor reads r into buf until re matches or the deadline passes.
func waitFor(t *testing.T, what string, read func() []byte, re string) {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if rx.Match(read()) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: no match for %q within 15s; have:\n%s", what, re, read())
}

// runCluster starts `cluster run` on clusterfile in a fresh directory, its
// output in a file that readLog reads; the caller stops it.
func runCluster(t *testing.T, clusterfile string) (dir string, run *exec.Cmd, readLog func() []byte) {
	t.Helper()
	dir = t.TempDir()
	os.WriteFile(filepath.Join(dir, "Clusterfile"), []byte(clusterfile), 0o644)
	logPath := filepath.Join(dir, "out.txt")
	logf, _ := os.Create(logPath)
	t.Cleanup(func() { logf.Close() })
	run = clusterCommand(t, dir, "run", "--color", "never")
	run.Stdout, run.Stderr = logf, logf
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	return dir, run, func() []byte { b, _ := os.ReadFile(logPath); return b }
}

// attachFrom starts `cluster attach app.1` in dir with tty as its
// controlling terminal and stdio; exited gets the result of its Wait.
func attachFrom(t *testing.T, dir string, tty *os.File) (cmd *exec.Cmd, exited chan error) {
	t.Helper()
	cmd = clusterCommand(t, dir, "attach", "app.1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited = make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	return cmd, exited
}

// termios returns tty's terminal settings.
func termios(t *testing.T, tty *os.File) *unix.Termios {
	t.Helper()
	tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	return tio
}

// waitRaw polls until tty's settings are no longer before (cmd, an attach,
// made it raw); after 15s it kills cmd and fails with msg.
func waitRaw(t *testing.T, tty *os.File, before *unix.Termios, cmd *exec.Cmd, msg string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if now, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS); err == nil && *now != *before {
			return
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal(msg)
		}
	}
}

// TestAttachThroughTerminal drives `cluster attach` from a real terminal:
// typed lines reach a tty = true worker (and are answered), the window size
// is passed on, Ctrl-\ detaches with status 0, the user's terminal is
// restored, and the worker and the main log go on.
func TestAttachThroughTerminal(t *testing.T) {
	dir, runCmd, readLog := runCluster(t, `
[process.app]
command = "sh -c 'echo tty: $(tty); while read l; do if [ \"$l\" = size ]; then stty size; else echo \"you said: $l\"; fi; done'"
workers = 1
tty = true
`)
	defer func() {
		runCmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- runCmd.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			runCmd.Process.Kill()
			t.Error("cluster run did not stop")
		}
	}()
	waitFor(t, "log", readLog, `app\.1 +\| tty: /dev/pts/`)

	master, slave := openPTY(t)
	unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 37, Col: 101})
	before := termios(t, slave)

	attach, exited := attachFrom(t, dir, slave)
	readOut := collect(master)
	waitFor(t, "attach", readOut, `attached to app\.1; detach with Ctrl-\\`)

	master.Write([]byte("hello\r"))
	waitFor(t, "attach", readOut, `you said: hello`)
	master.Write([]byte("size\r"))
	waitFor(t, "attach", readOut, `37 101`)
	waitFor(t, "log", readLog, `app\.1 +\| you said: hello`)

	master.Write([]byte{0x1c})
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("attach after Ctrl-\\: %v; output:\n%s", err, readOut())
		}
	case <-time.After(15 * time.Second):
		attach.Process.Kill()
		t.Fatalf("attach did not detach on Ctrl-\\; output:\n%s", readOut())
	}
	waitFor(t, "attach", readOut, `detached from app\.1`)
	if after := termios(t, slave); *after != *before {
		t.Errorf("terminal not restored:\nbefore %+v\nafter  %+v", *before, *after)
	}

	// The worker goes on, unattached.
	status := clusterCommand(t, dir, "status")
	if b, err := status.CombinedOutput(); err != nil || !regexp.MustCompile(`(?m)^app\.1 +[0-9]+ +\w+ +\S+ +0 `).Match(b) {
		t.Errorf("status after detach: %v\n%s", err, b)
	}

	// Attached again, a SIGTERM (a kill, a closing ssh or tmux) ends the
	// session with the terminal restored, not left raw.
	again, exited := attachFrom(t, dir, slave)
	waitRaw(t, slave, before, again, "the second attach never made the terminal raw")
	again.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 143 {
			t.Errorf("attach after SIGTERM: %v, want exit status 143", err)
		}
	case <-time.After(15 * time.Second):
		again.Process.Kill()
		t.Fatal("attach did not end on SIGTERM")
	}
	if after, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS); err != nil || *after != *before {
		t.Errorf("terminal left raw after SIGTERM: %v", err)
	}
}

// collect reads r in the background; the returned func gives what came so far.
func collect(r io.Reader) func() []byte {
	get, _ := collectUntilEOF(r)
	return get
}

// collectUntilEOF is collect, and a channel closed once r has ended.
func collectUntilEOF(r io.Reader) (func() []byte, <-chan struct{}) {
	var mu sync.Mutex
	var b []byte
	eof := make(chan struct{})
	go func() {
		defer close(eof)
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			mu.Lock()
			b = append(b, buf[:n]...)
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return func() []byte {
		mu.Lock()
		defer mu.Unlock()
		return append([]byte(nil), b...)
	}, eof
}

// waitExit waits for cmd (started, its Wait in exited) and returns its
// exit status.
func waitExit(t *testing.T, what string, cmd *exec.Cmd, exited <-chan error) int {
	t.Helper()
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("%s: %v", what, err)
		}
		return cmd.ProcessState.ExitCode()
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-exited
		t.Fatalf("%s did not end within 15s", what)
	}
	return -1
}

// TestAttachEnds: when the worker exits, attach ends with the runner's
// "terminal closed" line and status 0; when the runner dies (kill -9), it
// says the connection was lost and exits 1 (it printed nothing and exited 0,
// as if the worker had ended), from a terminal (restored) or a pipe.
func TestAttachEnds(t *testing.T) {
	dir, runCmd, readLog := runCluster(t, `
[process.app]
command = "sh -c 'echo up; while read l; do echo \"you said: $l\"; [ \"$l\" = bye ] && exit 3; done'"
workers = 1
tty = true
restart = "always"
`)
	defer func() {
		runCmd.Process.Kill()
		runCmd.Wait()
	}()
	waitFor(t, "log", readLog, `app\.1 +\| up`)

	// attach reads a pipe that stays open; stdout and stderr are kept apart,
	// in pipes of the test's own (exec's StdoutPipe is closed by Wait, which
	// can lose the last bytes a collector has not read yet); drained waits
	// until both have ended.
	attachPipe := func() (cmd *exec.Cmd, in io.WriteCloser, stdout, stderr func() []byte, exited chan error, drained func()) {
		t.Helper()
		cmd = clusterCommand(t, dir, "attach", "app.1")
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		or, ow, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		er, ew, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = ow, ew
		var oEOF, eEOF <-chan struct{}
		stdout, oEOF = collectUntilEOF(or)
		stderr, eEOF = collectUntilEOF(er)
		err = cmd.Start()
		ow.Close()
		ew.Close()
		if err != nil {
			t.Fatal(err)
		}
		exited = make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		t.Cleanup(func() { in.Close(); cmd.Process.Kill(); or.Close(); er.Close() })
		drained = func() {
			t.Helper()
			for _, c := range []<-chan struct{}{oEOF, eEOF} {
				select {
				case <-c:
				case <-time.After(10 * time.Second):
					t.Fatal("attach's output did not end after it exited")
				}
			}
		}
		return cmd, in, stdout, stderr, exited, drained
	}

	// The worker exits: the runner's line, status 0.
	cmd, in, stdout, stderr, exited, drained := attachPipe()
	io.WriteString(in, "ping\n")
	waitFor(t, "attach", stdout, `you said: ping`)
	io.WriteString(in, "bye\n")
	code := waitExit(t, "attach after the worker exited", cmd, exited)
	drained()
	if code != 0 || !bytes.HasSuffix(stdout(), []byte("[cluster: app.1's terminal closed]\r\n")) || len(stderr()) > 0 {
		t.Errorf("attach after the worker exited: status %d, stdout %q, stderr %q; want 0 and the terminal closed line", code, stdout(), stderr())
	}
	waitFor(t, "log", readLog, `(?s)app\.1 +\| up.*app\.1 +\| up`) // restarted

	// The runner dies under two clients: a terminal and a pipe.
	master, slave := openPTY(t)
	before := termios(t, slave)
	termCmd, termExited := attachFrom(t, dir, slave)
	t.Cleanup(func() { termCmd.Process.Kill() })
	screen := collect(master)
	waitFor(t, "attach", screen, `attached to app\.1; detach with Ctrl-\\`)
	waitRaw(t, slave, before, termCmd, "attach never made the terminal raw") // raw: the session is set up
	cmd, in, stdout, stderr, exited, drained = attachPipe()
	io.WriteString(in, "ping\n")
	waitFor(t, "attach", stdout, `you said: ping`)

	runCmd.Process.Kill()
	code = waitExit(t, "attach from a pipe after the runner died", cmd, exited)
	drained()
	if code != 1 || string(stderr()) != "[cluster: connection to the cluster lost]\n" {
		t.Errorf("attach from a pipe after the runner died: status %d, stderr %q; want 1 and the connection lost line", code, stderr())
	}
	if code := waitExit(t, "attach from a terminal after the runner died", termCmd, termExited); code != 1 {
		t.Errorf("attach from a terminal after the runner died: status %d, want 1; screen:\n%s", code, screen())
	}
	waitFor(t, "attach", screen, `\[cluster: connection to the cluster lost\]`)
	if after, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS); err != nil || *after != *before {
		t.Errorf("terminal not restored after the runner died: %v", err)
	}
}
