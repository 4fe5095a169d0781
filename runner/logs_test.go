package runner

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func logTexts(lines []LogLine) []string {
	var out []string
	for _, l := range lines {
		if l.Skipped > 0 {
			out = append(out, fmt.Sprintf("-- %d skipped --", l.Skipped))
			continue
		}
		out = append(out, fmt.Sprintf("%s.%d %s: %s", l.Process, l.Worker, l.Stream, l.Line))
	}
	return out
}

func callLogs(t *testing.T, path string, req Request) []LogLine {
	t.Helper()
	var got []LogLine
	if err := CallLogs(path, req, nil, nil, func(l LogLine) error { got = append(got, l); return nil }); err != nil {
		t.Fatalf("logs %+v: %v", req, err)
	}
	return got
}

// `cluster logs` over the control socket: the kept lines of a type, of one
// worker, the last N, an unknown type refused; following gets new lines
// until the client hangs up, then the worker's output goes on unhindered.
func TestControlLogs(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".cluster.sock")
	web := shProc("web", `for i in 1 2 3; do echo "web $CLUSTER_WORKER line $i"; done; exec sleep 1000`)
	web.Workers = 2
	other := shProc("other", `echo other line >&2; exec sleep 1000`)
	ticker := shProc("ticker", `i=0; while :; do echo "tick $i"; i=$((i+1)); sleep 0.02; done`)
	rn := start(t, Options{Config: config(web, other, ticker)})
	ctl, err := ListenControl(path)
	if err != nil {
		t.Fatal(err)
	}
	go ctl.Serve(rn.r)
	defer ctl.Close()
	rn.rec.waitLine(t, `web.2 stdout: web 2 line 3`, 15*time.Second)
	rn.rec.waitLine(t, `web.1 stdout: web 1 line 3`, 15*time.Second)
	rn.rec.waitLine(t, `other.1 stderr: other line`, 15*time.Second)

	got := logTexts(callLogs(t, path, Request{Cmd: "logs", Args: []string{"web.2"}}))
	want := []string{"web.2 stdout: web 2 line 1", "web.2 stdout: web 2 line 2", "web.2 stdout: web 2 line 3"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("logs web.2:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := callLogs(t, path, Request{Cmd: "logs", Args: []string{"web"}}); len(got) != 6 {
		t.Fatalf("logs web: %q", logTexts(got))
	}
	if got := callLogs(t, path, Request{Cmd: "logs", Args: []string{"other", "web.1"}}); len(got) != 4 || !slices.Contains(logTexts(got), "other.1 stderr: other line") {
		t.Fatalf("logs other web.1: %q", logTexts(got))
	}
	two := 2
	got = logTexts(callLogs(t, path, Request{Cmd: "logs", Args: []string{"web.1"}, N: &two}))
	if strings.Join(got, "|") != "web.1 stdout: web 1 line 2|web.1 stdout: web 1 line 3" {
		t.Fatalf("logs -n 2 web.1: %q", got)
	}
	err = CallLogs(path, Request{Cmd: "logs", Args: []string{"nope"}}, nil, nil, func(LogLine) error { return nil })
	if err == nil || !strings.Contains(err.Error(), `unknown process type "nope"`) {
		t.Fatalf("logs nope: %v", err)
	}
	// The answer names every type in Clusterfile order, whichever are
	// asked for: the client colors them as run does.
	var procs []string
	err = CallLogs(path, Request{Cmd: "logs", Args: []string{"ticker"}}, nil, func(r Response) { procs = r.Processes }, func(LogLine) error { return nil })
	if err != nil || strings.Join(procs, " ") != "web other ticker" {
		t.Fatalf("logs ticker: processes %q, %v", procs, err)
	}

	// Two followers of ticker, from now on (-n 0): each sees ticks in
	// order, none missing but where a marker says so.
	zero := 0
	var mu sync.Mutex
	followed := map[int][]LogLine{}
	stops := []chan struct{}{make(chan struct{}), make(chan struct{})}
	var done sync.WaitGroup
	for i, stop := range stops {
		done.Add(1)
		go func() {
			defer done.Done()
			err := CallLogs(path, Request{Cmd: "logs", Args: []string{"ticker"}, N: &zero, Follow: true}, stop, nil, func(l LogLine) error {
				mu.Lock()
				followed[i] = append(followed[i], l)
				mu.Unlock()
				return nil
			})
			if err != nil {
				t.Errorf("follower %d: %v", i, err)
			}
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := min(len(followed[0]), len(followed[1]))
		mu.Unlock()
		if n >= 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("followers got %d and %d lines", len(followed[0]), len(followed[1]))
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, s := range stops {
		close(s)
	}
	done.Wait()
	for i := range stops {
		next := -1
		for _, l := range followed[i] {
			if l.Skipped > 0 {
				next += int(l.Skipped)
				continue
			}
			var k int
			if _, err := fmt.Sscanf(l.Line, "tick %d", &k); err != nil || l.Process != "ticker" {
				t.Fatalf("follower %d got %+v", i, l)
			}
			if next >= 0 && k != next {
				t.Fatalf("follower %d: tick %d after tick %d", i, k, next-1)
			}
			next = k + 1
		}
	}
	// The server's side of each follower is gone: the ring has no followers.
	var ring *logRing
	rn.r.ask(func() { ring = rn.r.types[2].ring() })
	deadline = time.Now().Add(15 * time.Second)
	for {
		ring.mu.Lock()
		n := len(ring.followers)
		ring.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d followers still registered after their clients hung up", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A follower that never reads holds back nothing: a worker prints 50,000
// lines, the main output gets all of them, and a second follower still
// gets the last line; the stuck one is dropped when it hangs up.
func TestLogsStuckFollower(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".cluster.sock")
	burst := shProc("burst", `echo waiting; while [ ! -f "$GO_FILE" ]; do sleep 0.02; done; seq 1 50000; echo done; exec sleep 1000`)
	burst.Env = append(burst.Env, "GO_FILE="+filepath.Join(dir, "go"))
	rn := start(t, Options{Config: config(burst)})
	ctl, err := ListenControl(path)
	if err != nil {
		t.Fatal(err)
	}
	go ctl.Serve(rn.r)
	defer ctl.Close()
	rn.rec.waitLine(t, `burst.1 stdout: waiting`, 15*time.Second)

	stuck, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	if _, err := stuck.Write([]byte(`{"cmd":"logs","args":["burst"],"follow":true}` + "\n")); err != nil {
		t.Fatal(err)
	}
	var ring *logRing
	rn.r.ask(func() { ring = rn.r.types[0].ring() })
	followers := func() int {
		ring.mu.Lock()
		defer ring.mu.Unlock()
		return len(ring.followers)
	}
	deadline := time.Now().Add(15 * time.Second)
	for followers() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the stuck follower was never registered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	gotDone := make(chan error, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		gotDone <- CallLogs(path, Request{Cmd: "logs", Args: []string{"burst"}, Follow: true}, stop, nil, func(l LogLine) error {
			if l.Line == "done" {
				return errors.New("done")
			}
			return nil
		})
	}()
	for followers() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the second follower was never registered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rn.rec.waitLine(t, `burst.1 stdout: done`, 60*time.Second)
	lines, _ := rn.rec.snapshot()
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "burst.1 stdout: ") && l != "burst.1 stdout: waiting" && l != "burst.1 stdout: done" {
			n++
			if want := fmt.Sprintf("burst.1 stdout: %d", n); l != want {
				t.Fatalf("main output line %d is %q, want %q", n, l, want)
			}
		}
	}
	if n != 50000 {
		t.Fatalf("main output has %d of 50000 lines", n)
	}
	select {
	case err := <-gotDone:
		if err == nil || err.Error() != "done" {
			t.Fatalf("second follower: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the second follower never got the last line")
	}
	stuck.Close()
	deadline = time.Now().Add(15 * time.Second)
	for followers() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d followers left after both hung up", followers())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A reader of `cluster logs` that pauses (a pager on its first page, a
// pipe into a slow command) gets every kept line however long it pauses:
// the history is bounded, and the write deadline that cuts a stuck client
// of other commands does not apply to it.
func TestLogsSlowReaderGetsEveryLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".cluster.sock")
	// 1,000 lines of 1,000 bytes: far more than the socket buffers hold.
	burst := shProc("burst", `pad=$(printf '%0990d' 0); i=1; while [ $i -le 1000 ]; do echo "$(printf '%04d' $i) $pad"; i=$((i+1)); done; echo done; exec sleep 1000`)
	rn := start(t, Options{Config: config(burst)})
	ctl, err := ListenControl(path)
	if err != nil {
		t.Fatal(err)
	}
	ctl.writeTimeout = 100 * time.Millisecond
	go ctl.Serve(rn.r)
	defer ctl.Close()
	rn.rec.waitLine(t, `burst.1 stdout: done`, 30*time.Second)

	var got []string
	err = CallLogs(path, Request{Cmd: "logs"}, nil, nil, func(l LogLine) error {
		if len(got) == 0 {
			// Paused well past the write deadline, as a pager is: the
			// runner's writes wait meanwhile.
			time.Sleep(5 * ctl.writeTimeout)
		}
		got = append(got, l.Line)
		return nil
	})
	if err != nil {
		t.Fatalf("logs with a reader that paused after %d lines: %v", len(got), err)
	}
	if len(got) < 2 || got[len(got)-1] != "done" {
		t.Fatalf("got %d lines, the last %q; want every kept line, then done", len(got), got[len(got)-1:])
	}
	first, _ := strconv.Atoi(strings.Fields(got[0])[0])
	for i, l := range got[:len(got)-1] {
		if n, _ := strconv.Atoi(strings.Fields(l)[0]); n != first+i {
			t.Fatalf("line %d is %.10q, want line %04d", i, l, first+i)
		}
	}
}

// The kept lines of a worker that a scale down removed can still be asked
// for by its name (web.3 after web=1, web.1 after web=0); an index below 1
// and an unknown type are refused. Commands that act on live workers keep
// the strict check.
func TestLogsOfRemovedWorkers(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".cluster.sock")
	web := shProc("web", `echo "web $CLUSTER_WORKER up"; exec sleep 1000`)
	rn := start(t, Options{Config: config(web)})
	ctl, err := ListenControl(path)
	if err != nil {
		t.Fatal(err)
	}
	go ctl.Serve(rn.r)
	defer ctl.Close()
	rn.rec.waitLine(t, `web.1 stdout: web 1 up`, 15*time.Second)
	if _, err := rn.r.Scale("web", 3); err != nil {
		t.Fatal(err)
	}
	rn.rec.waitLine(t, `web.3 stdout: web 3 up`, 15*time.Second)
	if _, err := rn.r.Scale("web", 1); err != nil {
		t.Fatal(err)
	}
	got := logTexts(callLogs(t, path, Request{Cmd: "logs", Args: []string{"web.3"}}))
	if strings.Join(got, "|") != "web.3 stdout: web 3 up" {
		t.Errorf("logs web.3 after web=1: %q", got)
	}
	if _, err := rn.r.Signal("web.3", syscall.SIGUSR1); err == nil {
		t.Errorf("signal web.3 after web=1: no error")
	}
	if _, err := rn.r.Scale("web", 0); err != nil {
		t.Fatal(err)
	}
	got = logTexts(callLogs(t, path, Request{Cmd: "logs", Args: []string{"web.1"}}))
	if strings.Join(got, "|") != "web.1 stdout: web 1 up" {
		t.Errorf("logs web.1 after web=0: %q", got)
	}
	for target, want := range map[string]string{"web.0": "web.0: worker indexes start at 1 (e.g. web.1)", "nope.2": `unknown process type "nope"`} {
		err := CallLogs(path, Request{Cmd: "logs", Args: []string{target}}, nil, nil, func(LogLine) error { return nil })
		if err == nil || err.Error() != want {
			t.Errorf("logs %s: %v, want %q", target, err, want)
		}
	}
}
