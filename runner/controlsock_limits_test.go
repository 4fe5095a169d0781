package runner

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// openFDs counts the test process's descriptors: the runner under test
// runs in it, so its sockets are among them.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func dialIdle(t *testing.T, network, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for range n {
		c, err := net.Dial(network, addr)
		if err != nil {
			t.Fatalf("dial %d: %v", len(conns), err)
		}
		conns = append(conns, c)
	}
	return conns
}

// Idle clients beyond the cap cost the runner no descriptor, idle ones are
// cut after the read timeout, and a real client queued behind all of them
// is answered.
func TestControlSocketIdleConnectionsAreCapped(t *testing.T) {
	rn, ctl, path := runWithControl(t)
	ctl.readTimeout = 300 * time.Millisecond
	go ctl.Serve(rn.r)

	base := openFDs(t)
	const idle = controlMaxConns + 100
	conns := dialIdle(t, "unix", path, idle)
	type result struct {
		resp Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := Call(path, Request{Cmd: "status"})
		done <- result{resp, err}
	}()
	// Server side: at most controlMaxConns; the Call's two ends and a /proc
	// read for status are the slack.
	limit := base + idle + controlMaxConns + 8
	peak := 0
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(20 * time.Second)
	var res result
wait:
	for {
		select {
		case res = <-done:
			peak = max(peak, openFDs(t))
			break wait
		case <-tick.C:
			peak = max(peak, openFDs(t))
		case <-deadline:
			t.Fatalf("status did not answer within 20s behind %d idle connections (fds: base %d, peak %d)", idle, base, peak)
		}
	}
	if res.err != nil || !res.resp.OK || res.resp.Status == nil {
		t.Fatalf("status behind %d idle connections: %+v %v", idle, res.resp, res.err)
	}
	if peak > limit {
		t.Errorf("%d idle control connections took the runner from %d to %d fds; want at most %d (cap %d)", idle, base, peak, limit, controlMaxConns)
	}
	// Every idle client was accepted before the Call (the backlog is FIFO)
	// and is cut once its read timeout passes.
	buf := make([]byte, 1)
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := c.Read(buf); n != 0 || !errors.Is(err, io.EOF) {
			t.Fatalf("idle connection %d: read %d, %v; want EOF from the read timeout", i, n, err)
		}
	}
}

// A request line may grow past the first small buffer, up to the maximum;
// a longer one is refused with an error and the connection closed.
func TestControlSocketRequestSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctl.sock")
	rn := start(t, Options{Config: config(shProc("web", `echo up; exec sleep 1000`))})
	ctl, err := ListenControl(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.Close() })
	go ctl.Serve(rn.r)

	// status ignores its args: they only make the line long.
	resp, err := Call(path, Request{Cmd: "status", Args: []string{strings.Repeat("a", controlMaxRequest/2)}})
	if err != nil || !resp.OK {
		t.Fatalf("status with a %d-byte line: %+v %v", controlMaxRequest/2, resp, err)
	}

	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	long, _ := json.Marshal(Request{Cmd: "status", Args: []string{strings.Repeat("a", controlMaxRequest)}})
	go conn.Write(append(long, '\n')) // fails once the server has given up: not checked
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	dec := json.NewDecoder(conn)
	if err := dec.Decode(&resp); err != nil {
		t.Fatalf("no answer to a %d-byte request: %v", len(long), err)
	}
	if resp.OK || !strings.Contains(resp.Error, "longer than") {
		t.Errorf("a %d-byte request (max %d) got %+v; want a too-long error", len(long), controlMaxRequest, resp)
	}
	if err := dec.Decode(&resp); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("after the too-long answer: %v; want the connection closed", err)
	}
}

// An idle control connection costs a small read buffer, not the maximum
// request size.
func TestControlSocketIdleConnectionMemory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctl.sock")
	r, err := New(Options{Config: config(shProc("web", "true")), Output: &recorder{}})
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := ListenControl(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.Close() })
	ctl.readTimeout = time.Minute // none times out while measured
	go ctl.Serve(r)

	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	const idle = controlMaxConns - 4
	dialIdle(t, "unix", path, idle)
	// Wait until every connection's handler is blocked reading its request:
	// whatever it allocates up front is allocated by then.
	deadline := time.Now().Add(10 * time.Second)
	for readingControlRequests() < idle {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d idle connections reached the request read", readingControlRequests(), idle)
		}
		time.Sleep(5 * time.Millisecond)
	}
	after := heap()
	per := (int64(after) - int64(before)) / idle
	if per > 8<<10 {
		t.Errorf("an idle control connection holds %d bytes of heap; want a small buffer, not the %d-byte maximum", per, controlMaxRequest)
	}
	t.Logf("%d bytes of heap per idle control connection", per)
}

// readingControlRequests counts handler goroutines blocked reading a request.
func readingControlRequests() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "(*ControlServer).handle") && strings.Contains(g, "net.(*conn).Read") {
			count++
		}
	}
	return count
}

// Clients that follow logs (or stay attached, or wait for a reload) do not
// hold connection slots: with more of them than controlMaxConns, status is
// still answered at once.
func TestControlStreamsDoNotLockOutCommands(t *testing.T) {
	rn, ctl, path := runWithControl(t)
	go ctl.Serve(rn.r)
	for i := 0; i < controlMaxConns+10; i++ {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := json.NewEncoder(c).Encode(Request{Cmd: "logs", Follow: true}); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		var resp Response
		if err := json.NewDecoder(bufio.NewReader(c)).Decode(&resp); err != nil || !resp.OK {
			t.Fatalf("follower %d: %+v %v", i, resp, err)
		}
	}
	done := make(chan error, 1)
	go func() {
		resp, err := Call(path, Request{Cmd: "status"})
		if err == nil && !resp.OK {
			err = fmt.Errorf("%+v", resp)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("status beside %d followers: %v", controlMaxConns+10, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("status not answered beside %d followers", controlMaxConns+10)
	}
}

// runWithControl starts a runner with one ready worker and a control
// socket for it, not yet served (a test may shorten its limits first).
func runWithControl(t *testing.T) (*running, *ControlServer, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ctl.sock")
	rn := start(t, Options{Config: config(shProc("web", `echo up; exec sleep 1000`))})
	rn.waitStatus(t, func(s Status) bool { return readyCount(s, "web") == 1 }, "ready")
	ctl, err := ListenControl(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.Close() })
	return rn, ctl, path
}

// With every stream slot taken, a plain `logs` (no -f) is refused too:
// one stuck in a pager would otherwise hold a connection slot for good, and
// enough of them locked out status and stop.
func TestControlLogsWithoutStreamSlotIsRefused(t *testing.T) {
	rn, ctl, path := runWithControl(t)
	ctl.streams = make(chan struct{}, 2)
	go ctl.Serve(rn.r)
	for i := 0; i < 2; i++ {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		json.NewEncoder(c).Encode(Request{Cmd: "logs", Follow: true})
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		var resp Response
		if err := json.NewDecoder(bufio.NewReader(c)).Decode(&resp); err != nil || !resp.OK {
			t.Fatalf("follower %d: %+v %v", i, resp, err)
		}
	}
	err := CallLogs(path, Request{Cmd: "logs"}, nil, nil, func(LogLine) error { return nil })
	var refused *RefusedError
	if !errors.As(err, &refused) || !strings.Contains(refused.Reason, "too many clients") {
		t.Fatalf("logs with every stream slot taken: %v", err)
	}
}

// A client that does not ask for the End line (an older cluster binary)
// gets none: it would print it as an empty line.
func TestControlLogsEndLineOnlyWhenAsked(t *testing.T) {
	rn, ctl, path := runWithControl(t)
	go ctl.Serve(rn.r)
	rn.rec.waitLine(t, "up$", 10*time.Second)
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	json.NewEncoder(c).Encode(Request{Cmd: "logs"})
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), `"end"`) || strings.Contains(string(b), `"more"`) {
		t.Fatalf("an answer to a request without end: %s", b)
	}
	if !strings.Contains(string(b), `"up"`) {
		t.Fatalf("the kept line is missing: %s", b)
	}
}
