package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cluster-run/cluster/procfile"
	"github.com/cluster-run/cluster/runner"
)

// eventTap forwards runner events to a notifier, as muxOutput does in run.
type eventTap struct{ n *notifier }

func (t eventTap) Stream(runner.Stream) io.WriteCloser { return nopWriteCloser{} }
func (t eventTap) Event(e runner.Event)                { t.n.Event(e) }

type nopOutput struct{}

func (nopOutput) Stream(runner.Stream) io.WriteCloser { return nopWriteCloser{} }
func (nopOutput) Event(runner.Event)                  {}

type nopWriteCloser struct{}

func (nopWriteCloser) Write(p []byte) (int, error) { return len(p), nil }
func (nopWriteCloser) Close() error                { return nil }

// startCluster runs a real runner on a Clusterfile in a temp directory.
func startCluster(t *testing.T, clusterfile string, out runner.Output) (*runner.Runner, context.CancelFunc, chan error) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "Clusterfile")
	if err := os.WriteFile(path, []byte(clusterfile), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := procfile.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := runner.New(runner.Options{Config: cfg, Output: out, NoPTY: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		r.Kill()
		<-done
	})
	return r, cancel, done
}

const twoSleepers = `
shutdown_timeout = "5s"
[process.web]
command = "sleep 1000"
workers = 2
ready = { delay = "100ms" }
`

// The protocol as systemd reads it, from a real runner: READY=1 once
// ready, STATUS=, WATCHDOG=1, RELOADING=1 with MONOTONIC_USEC then READY=1
// around a reload, STOPPING=1 at the stop.
func TestNotifyProtocol(t *testing.T) {
	sock, msgs := receiver(t)
	// expect waits for a message after the last one expect returned;
	// everSent also looks at those before: STATUS= lines follow the workers'
	// ready events and may come before or after READY=1.
	var seen []string
	next := 0
	await := func(want string, from int) (string, int) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for i := from; ; i++ {
			for i >= len(seen) {
				select {
				case m := <-msgs:
					seen = append(seen, m)
				case <-deadline:
					t.Fatalf("no %q from the notifier within 10s; got %q", want, seen)
				}
			}
			if strings.Contains(seen[i], want) {
				return seen[i], i + 1
			}
		}
	}
	expect := func(want string) string {
		t.Helper()
		m, i := await(want, next)
		next = i
		return m
	}
	everSent := func(want string) {
		t.Helper()
		await(want, 0)
	}

	n := testNotifier(t, sock)
	r, cancel, _ := startCluster(t, twoSleepers, eventTap{n})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go n.run(ctx, r, 2*time.Second) // pings each second, each after a status answered within 1s
	go func() {
		if err := <-r.Ready(); err == nil {
			n.Ready()
		}
	}()

	expect("READY=1")
	everSent("STATUS=web 2/2 ready")
	expect("WATCHDOG=1")
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	m := expect("RELOADING=1")
	if !strings.Contains(m, "MONOTONIC_USEC=") {
		t.Errorf("RELOADING=1 without MONOTONIC_USEC: %q", m)
	}
	expect("READY=1")
	cancel()
	expect("STOPPING=1")
}

// /livez answers while the supervisor does; /readyz only when every type
// has a ready worker.
func TestHealthEndpoints(t *testing.T) {
	r, cancel, _ := startCluster(t, `
[process.web]
command = "sleep 1000"
workers = 1
ready = { delay = "1s" }
`, nil)
	srv := httptest.NewServer(healthHandler(r))
	defer srv.Close()
	get := func(path string) int {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := get("/livez"); c != 200 {
		t.Errorf("/livez = %d, want 200", c)
	}
	if c := get("/readyz"); c != 503 {
		t.Errorf("/readyz before ready = %d, want 503", c)
	}
	deadline := time.Now().Add(10 * time.Second)
	for get("/readyz") != 200 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if c := get("/readyz"); c != 200 {
		t.Errorf("/readyz once ready = %d, want 200", c)
	}
	if _, err := r.Scale("web", 0); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for get("/readyz") != 503 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if c := get("/readyz"); c != 503 {
		t.Errorf("/readyz scaled to 0 = %d, want 503", c)
	}
	cancel()
}

// A one-shot type that completed (exited 0, restart "never") has nothing
// left to be ready: once web is ready, /readyz is 200 and the status line
// says migrate completed.
func TestReadyzCompletedOneShot(t *testing.T) {
	r, _, _ := startCluster(t, `
[process.migrate]
command = "true"
workers = 1
restart = "never"
[process.web]
command = "sleep 1000"
workers = 1
ready = { delay = "100ms" }
depends_on = { migrate = "completed" }
`, nil)
	srv := httptest.NewServer(healthHandler(r))
	defer srv.Close()
	deadline := time.Now().Add(10 * time.Second)
	var st runner.Status
	for {
		var err error
		if st, err = r.Status(); err != nil {
			t.Fatal(err)
		}
		if len(st.Types) == 2 && st.Types[1].Ready == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("web not ready within 10s: %s", statusLine(st))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !st.Types[0].Completed {
		t.Errorf("migrate: Completed is false once it exited 0: %+v", st.Types[0])
	}
	if got, want := statusLine(st), "migrate 0/1 ready (completed), web 1/1 ready"; got != want {
		t.Errorf("status line %q, want %q", got, want)
	}
	resp, err := http.Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/readyz with migrate completed and web ready = %d %q, want 200", resp.StatusCode, b)
	}
	select { // what sends sd_notify READY=1
	case err := <-r.Ready():
		if err != nil {
			t.Errorf("Ready: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("Ready did not answer within 10s of web being ready")
	}
}

// receiver listens on a fresh NOTIFY_SOCKET and returns its path and the
// datagrams it reads, in order.
func receiver(t *testing.T) (string, <-chan string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "notify.sock")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	msgs := make(chan string, 1000)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := ln.ReadFromUnix(buf)
			if err != nil {
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	return sock, msgs
}

// stateMessages reads datagrams until STOPPING=1 and returns the state
// ones (READY=1, RELOADING=1, STOPPING=1) by their first line.
func stateMessages(t *testing.T, msgs <-chan string) []string {
	t.Helper()
	var got []string
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m := <-msgs:
			first, _, _ := strings.Cut(m, "\n")
			switch first {
			case "READY=1", "RELOADING=1", "STOPPING=1":
				got = append(got, first)
			}
			if first == "STOPPING=1" {
				return got
			}
		case <-deadline:
			t.Fatalf("no STOPPING=1 within 10s; state messages so far: %q", got)
		}
	}
}

// testNotifier is a notifier on sock, closed at the end of the test.
func testNotifier(t *testing.T, sock string) *notifier {
	t.Helper()
	n, err := newNotifier(sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.close(time.Second) })
	return n
}

// reloadOnePair runs clusterfile with a notifier, reloads it once ready,
// polls its status until reloaded says every message about the reload was
// decided (else fails with "<notYet> within 10s"), stops it, and checks
// that the reload was one RELOADING=1 ... READY=1 pair.
func reloadOnePair(t *testing.T, clusterfile, notYet string, reloaded func(runner.Status) bool) {
	t.Helper()
	sock, msgs := receiver(t)
	n := testNotifier(t, sock)
	r, cancel, _ := startCluster(t, clusterfile, eventTap{n})
	if err := <-r.Ready(); err != nil {
		t.Fatal(err)
	}
	n.Ready()
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := r.Status()
		if err != nil {
			t.Fatal(err)
		}
		if reloaded(st) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s within 10s: %+v", notYet, st.Types)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	got := stateMessages(t, msgs)
	want := []string{"READY=1", "RELOADING=1", "READY=1", "STOPPING=1"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("state messages %q, want %q", got, want)
	}
}

// One reload of several types is one RELOADING=1 ... READY=1 pair: the
// runner reloads them one after another, and READY=1 between two would
// tell systemd the reload is over while the second type still rolls.
func TestNotifyOneReloadOnePair(t *testing.T) {
	// Both types reloaded: every message about the reload was decided.
	reloadOnePair(t, `
shutdown_timeout = "5s"
[process.web]
command = "sleep 1000"
workers = 2
ready = { delay = "100ms" }
[process.worker]
command = "sleep 1000"
workers = 1
ready = { delay = "100ms" }
`, "the reload did not finish", func(st runner.Status) bool {
		return len(st.Types) == 2 && st.Types[0].Reloads == 1 && st.Types[1].Reloads == 1
	})
}

// A receiver that stops reading holds up no one: the runner still stops
// when asked (before, the supervisor blocked in the write of STOPPING=1
// until the receiver closed its socket).
func TestNotifyStalledReceiver(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "dead.sock")
	closeAll, err := stalledReceiver(sock)
	if err != nil {
		t.Fatal(err)
	}
	n := testNotifier(t, sock)
	r, cancel, done := startCluster(t, twoSleepers, eventTap{n})
	t.Cleanup(closeAll) // first: a runner stuck writing to it is freed
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go n.run(ctx, r, 20*time.Millisecond)
	if err := <-r.Ready(); err != nil {
		t.Fatal(err)
	}
	go n.Ready() // (it blocked too)
	st, ok := statusWithin(r, 10*time.Second)
	if !ok {
		t.Fatal("no status within 10s")
	}
	if got := statusLine(st); got != "web 2/2 ready" {
		t.Errorf("status %q, want web 2/2 ready", got)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		// Run returned: its error is read, give Cleanup one to read.
		done <- nil
	case <-time.After(10 * time.Second):
		t.Fatal("the runner did not stop within 10s of its stop: blocked on the notify socket")
	}
	closed := make(chan struct{})
	go func() {
		n.close(100 * time.Millisecond)
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("close(100ms) still waits for the receiver after 10s")
	}
}

// While the receiver does not read, the queue keeps the latest STATUS=,
// one WATCHDOG=1, and every state change in order, folding reloads that
// were never sent once it is long.
func TestNotifyCoalesce(t *testing.T) {
	const (
		ready     = "READY=1\n"
		reloading = "RELOADING=1\nMONOTONIC_USEC=1\n"
		stopping  = "STOPPING=1\n"
		watchdog  = "WATCHDOG=1\n"
	)
	status := func(s string) string { return "STATUS=" + s + "\n" }
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"latest status only", []string{status("a"), ready, status("b")}, []string{ready, status("b")}},
		{"one watchdog", []string{watchdog, status("a"), watchdog, watchdog}, []string{watchdog, status("a")}},
		{"states in order", []string{ready, reloading, ready, stopping}, []string{ready, reloading, ready, stopping}},
		{"short: no folding", []string{ready, reloading, ready, reloading, ready, reloading, ready, stopping},
			[]string{ready, reloading, ready, reloading, ready, reloading, ready, stopping}},
		// Past queueMax the oldest READY=1 and the RELOADING=1 after it go.
		{"long: the oldest reloads fold", []string{
			ready, watchdog, status("a"), reloading, ready, reloading, ready, reloading, ready, reloading, status("b"), ready, watchdog, stopping},
			[]string{watchdog, ready, reloading, ready, reloading, status("b"), ready, stopping}},
		{"long, still reloading", []string{
			reloading, ready, reloading, ready, reloading, ready, reloading, ready, reloading, watchdog, ready, reloading},
			[]string{reloading, ready, reloading, ready, reloading, watchdog, ready, reloading}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q []string
			for _, m := range tt.in {
				q = coalesce(q, m)
				if len(q) > queueMax+1 {
					t.Fatalf("queue of %d after %q: %q", len(q), m, q)
				}
			}
			if strings.Join(q, "|") != strings.Join(tt.want, "|") {
				t.Errorf("queue\n%q\nwant\n%q", q, tt.want)
			}
		})
	}
}

// A reload whose first type is aborted (its new worker crashes) and whose
// second is reloaded is still one pair: READY=1 once both ended.
func TestNotifyAbortedReloadOnePair(t *testing.T) {
	// worker reloads after web's reload was aborted: then all is decided.
	reloadOnePair(t, `
shutdown_timeout = "5s"
[process.web]
command = "sh -c 'test -e web.started && exit 3; touch web.started; exec sleep 1000'"
workers = 1
ready = { delay = "100ms" }
[process.worker]
command = "sleep 1000"
workers = 1
ready = { delay = "100ms" }
`, "worker was not reloaded", func(st runner.Status) bool {
		if len(st.Types) == 2 && st.Types[1].Reloads == 1 {
			if st.Types[0].Reloads != 0 {
				t.Fatalf("web was reloaded, not aborted: %+v", st.Types)
			}
			return true
		}
		return false
	})
}
