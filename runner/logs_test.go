package runner

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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
