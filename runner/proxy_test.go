package runner

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cluster-run/cluster/procfile"
)

// waitConns polls status until worker name has n open proxied connections.
func (rn *running) waitConns(t *testing.T, name string, n int64) {
	t.Helper()
	rn.waitStatus(t, func(st Status) bool {
		for _, w := range st.Workers {
			if w.Name == name && w.Conns != nil && *w.Conns >= n {
				return true
			}
		}
		return false
	}, fmt.Sprintf("%d connection(s) on %s", n, name))
}

// startWeb runs p, a type named web, alone until web.1 is ready.
func startWeb(t *testing.T, p *procfile.Process) *running {
	t.Helper()
	rn := start(t, Options{Config: config(p)})
	rn.waitEvents(t, "web.1 ready", 1, 20*time.Second)
	return rn
}

// dial connects to the first listener of type name; the connection is
// closed at the end of the test.
func (rn *running) dial(t *testing.T, name string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", rn.addr(t, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// get sends a GET on c and returns the status line, reading for at most d.
func get(c net.Conn, d time.Duration) (string, error) {
	c.SetDeadline(time.Now().Add(d))
	if _, err := fmt.Fprintf(c, "GET / HTTP/1.0\r\n\r\n"); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}

// A client that connects and sends nothing (a browser's preconnect, an idle
// keep-alive) does not hold back the stop: the worker gets its stop_signal
// at once, exits in time, and the run ends cleanly.
func TestProxyIdleConnectionDoesNotDelayStop(t *testing.T) {
	p := helperProc("web", procfile.SocketProxy, 1)
	p.StopTimeout = 20 * time.Second
	rn := startWeb(t, p)
	rn.dial(t, "web") // idle
	rn.waitConns(t, "web.1", 1)
	t0 := time.Now()
	rn.cancel()
	rn.rec.waitLine(t, `^web\.1 stdout: got SIGTERM$`, 8*time.Second)
	t.Logf("stop_signal %s after the stop", time.Since(t0).Round(time.Millisecond))
	if err := rn.wait(t, 15*time.Second); err != nil {
		t.Errorf("Run = %v, want nil (every worker stopped in time); events %q", err, rn.rec.messages())
	}
}

// The same idle connection does not hold a reload step either, and it is
// not lost with the old worker: nothing was exchanged on it, so it moves to
// the new one, which answers the request sent after the reload.
func TestProxyIdleConnectionDoesNotDelayReload(t *testing.T) {
	p := helperProc("web", procfile.SocketProxy, 1)
	p.StopTimeout = 20 * time.Second
	rn := startWeb(t, p)
	old := workerPid(t, rn, "web.1")
	c := rn.dial(t, "web")
	rn.waitConns(t, "web.1", 1)
	t0 := time.Now()
	if err := rn.r.Reload("web"); err != nil {
		t.Fatal(err)
	}
	rn.rec.waitLine(t, `^web\.1 stdout: got SIGTERM$`, 10*time.Second)
	t.Logf("old worker signalled %s after the reload", time.Since(t0).Round(time.Millisecond))
	rn.waitEvents(t, "web reloaded", 1, 15*time.Second)
	status, err := get(c, 10*time.Second)
	if err != nil || !strings.Contains(status, "200") {
		t.Fatalf("request on the connection made before the reload: %q, %v", status, err)
	}
	if pid := workerPid(t, rn, "web.1"); pid == old {
		t.Fatalf("web.1 was not replaced")
	}
}

// stop_timeout is one deadline from the stop: waiting for a request in
// flight to be answered before stop_signal is part of it, not added to it.
func TestProxyStopTimeoutIsOneDeadline(t *testing.T) {
	p := helperProc("web", procfile.SocketProxy, 1)
	p.StopTimeout = 3 * time.Second // the helper takes 5s to give up on a request that sleeps 60s
	rn := startWeb(t, p)
	c := rn.dial(t, "web")
	fmt.Fprintf(c, "GET /?sleep=60s HTTP/1.0\r\n\r\n")
	rn.rec.waitLine(t, `^web\.1 stdout: sleeping 1m0s$`, 10*time.Second)
	t0 := time.Now()
	rn.cancel()
	err := rn.wait(t, 20*time.Second)
	took := time.Since(t0)
	t.Logf("stop took %s with stop_timeout %s", took.Round(time.Millisecond), p.StopTimeout)
	if !errors.Is(err, ErrKilled) {
		t.Errorf("Run = %v, want ErrKilled", err)
	}
	if took > p.StopTimeout+2*time.Second {
		t.Errorf("stop took %s: SIGKILL must come stop_timeout (%s) after the stop", took.Round(time.Millisecond), p.StopTimeout)
	}
}

// A connection made while no worker is ready waits for one, however long
// it takes (here a start of 32s, past the 30s after which the proxy used to
// reset it).
func TestProxyConnectionOutwaitsASlowStart(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 32s")
	}
	p := helperProc("web", procfile.SocketProxy, 1)
	p.Env = append(p.Env, "HELPER_DELAY=32s")
	p.Ready.Timeout = time.Minute
	rn := start(t, Options{Config: config(p)})
	c := rn.dial(t, "web")
	status, err := get(c, 50*time.Second)
	if err != nil || !strings.Contains(status, "200") {
		t.Fatalf("request made during a slow start: %q, %v; events %q", status, err, rn.rec.messages())
	}
}

// A type removed from the file stops accepting at once: a new connection
// is refused (or closed) instead of waiting for a worker that never comes,
// while the old worker takes its time to stop.
func TestProxyRemovedTypeStopsAcceptingAtOnce(t *testing.T) {
	web := helperProc("web", procfile.SocketProxy, 1)
	web.StopSignal = syscall.SIGWINCH // ignored: it stops only at stop_timeout
	web.StopTimeout = 20 * time.Second
	keep := shProc("keep", `echo up; exec sleep 1000`)
	rn := start(t, Options{Config: config(web, keep)})
	rn.waitEvents(t, "web.1 ready", 1, 20*time.Second)
	addr := rn.addr(t, "web")
	if _, err := rn.r.Apply(config(keep), nil); err != nil {
		t.Fatal(err)
	}
	rn.waitEvents(t, "stopping web: removed from the file", 1, 5*time.Second)
	t0 := time.Now()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Logf("not connected: %v", err)
		return
	}
	defer c.Close()
	status, err := get(c, 5*time.Second)
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("connection to the removed type after %s: %q, %v; want it refused or closed at once", time.Since(t0).Round(time.Millisecond), status, err)
	}
	t.Logf("closed: %v", err)
}

// A worker that listens on localhost as ::1 (Node 17+'s listen(PORT,
// 'localhost')) becomes ready and is proxied to, with the tcp and the http
// readiness probe.
func TestProxyWorkerOnIPv6Localhost(t *testing.T) {
	if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	} else {
		ln.Close()
	}
	for _, ready := range []procfile.Ready{
		{Kind: procfile.ReadyTCP, Timeout: 10 * time.Second},
		{Kind: procfile.ReadyHTTP, HTTP: "/", Timeout: 10 * time.Second},
	} {
		t.Run(string(ready.Kind), func(t *testing.T) {
			p := helperProc("web", procfile.SocketProxy, 1)
			p.Env = append(p.Env, "HELPER_HOST=::1")
			p.Ready = ready
			rn := startWeb(t, p)
			c := rn.dial(t, "web")
			status, err := get(c, 10*time.Second)
			if err != nil || !strings.Contains(status, "200") {
				t.Fatalf("request to a worker on [::1]: %q, %v", status, err)
			}
		})
	}
}
