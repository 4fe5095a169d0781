package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cluster-run/cluster/procfile"
)

// helper is the test binary playing a worker (os/exec's helperCommand
// pattern): an HTTP server on the inherited fd 3 or on $PORT that drains on
// SIGTERM like a well-behaved app.
func helper(mode string) int {
	if mode == "holdname" { // an abstract socket held by this (other) user until stdin closes
		ln, err := net.Listen("unix", os.Getenv("CTL_SOCK"))
		if err != nil {
			fmt.Println(err)
			return 1
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		fmt.Println("listening")
		io.Copy(io.Discard, os.Stdin)
		return 0
	}
	if mode == "ctlclient" {
		resp, err := Call(os.Getenv("CTL_SOCK"), Request{Cmd: "status"})
		fmt.Println(resp.Error, err)
		return 0
	}
	if _, err := os.Stat("broken"); err == nil {
		select {} // never becomes ready
	}
	var ln net.Listener
	var err error
	switch {
	case mode == "bindself":
		ln, err = net.Listen("tcp", os.Getenv("BIND_ADDR"))
	case os.Getenv("LISTEN_FDS") != "" && mode == "shutdown" && os.Getenv("CLUSTER_WORKER") == "1" && !fileExists("shut-once"):
		os.WriteFile("shut-once", nil, 0o644)
		syscall.Shutdown(3, syscall.SHUT_RDWR) // stops the listen for every worker
		select {}
	case os.Getenv("LISTEN_FDS") != "":
		if os.Getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) {
			fmt.Println("LISTEN_PID", os.Getenv("LISTEN_PID"), "is not my pid", os.Getpid())
			return 3
		}
		ln, err = net.FileListener(os.NewFile(3, "listen"))
	default:
		// HELPER_HOST: where to listen ("::1": what Node's listen(PORT,
		// 'localhost') binds); HELPER_DELAY: a slow start before it.
		if d, err := time.ParseDuration(os.Getenv("HELPER_DELAY")); err == nil {
			time.Sleep(d)
		}
		host := os.Getenv("HELPER_HOST")
		if host == "" {
			host = "127.0.0.1"
		}
		ln, err = net.Listen("tcp", net.JoinHostPort(host, os.Getenv("PORT")))
	}
	if err != nil {
		fmt.Println(err)
		return 1
	}
	name := os.Getenv("CLUSTER_PROCESS") + "." + os.Getenv("CLUSTER_WORKER")
	// Draining properly: http.Server.Shutdown drops requests it reads after
	// it started (net/http closes such connections unanswered), so first
	// stop accepting, let the connections already accepted be read, then
	// Shutdown. Queued connections stay in the shared socket for the others.
	var unread atomic.Int64
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if d, err := time.ParseDuration(r.URL.Query().Get("sleep")); err == nil {
				fmt.Println("sleeping", d)
				time.Sleep(d)
			}
			fmt.Fprintf(w, "%s %d\n", name, os.Getpid())
		}),
	}
	seen := sync.Map{}
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			unread.Add(1)
			seen.Store(c, true)
		case http.StateActive, http.StateClosed, http.StateHijacked:
			if _, ok := seen.LoadAndDelete(c); ok {
				unread.Add(-1)
			}
		}
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	drained := make(chan struct{})
	served := make(chan struct{}) // Serve returned: every accepted connection has passed its StateNew hook
	go func() {
		<-term
		fmt.Println("got SIGTERM")
		ln.Close()
		<-served
		for deadline := time.Now().Add(time.Second); unread.Load() > 0 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		close(drained)
	}()
	fmt.Println("listening on", ln.Addr())
	err = srv.Serve(ln)
	close(served)
	if err != http.ErrServerClosed && !errors.Is(err, net.ErrClosed) {
		fmt.Println(err)
		return 1
	}
	<-drained // Serve returns as soon as the listener closes; in-flight requests finish here
	fmt.Println("drained")
	return 0
}

func helperProc(name string, mode procfile.SocketMode, workers int) *procfile.Process {
	self, _ := os.Executable()
	p := &procfile.Process{
		Name: name, Command: self, Workers: workers, Dir: os.TempDir(),
		Env:     append(os.Environ(), "RUNNER_TEST_HELPER=http"),
		Listen:  []procfile.Address{{Network: "tcp", Addr: "127.0.0.1:0", Raw: "127.0.0.1:0"}},
		Socket:  mode,
		Restart: procfile.RestartAlways, MaxRestarts: 10, RestartWindow: time.Minute,
		StopSignal: syscall.SIGTERM, StopTimeout: 5 * time.Second, KillMode: procfile.KillGroup,
		Ready: procfile.Ready{Kind: procfile.ReadyTCP, Timeout: 10 * time.Second},
	}
	if mode == procfile.SocketInherit {
		p.Ready = procfile.Ready{Kind: procfile.ReadyLog, Log: regexp.MustCompile("listening on"), Timeout: 10 * time.Second}
	}
	return p
}

// addr returns the bound address of the first listener of type name.
func (rn *running) addr(t *testing.T, name string) string {
	for _, pt := range rn.r.types {
		if pt.p.Name == name && len(pt.listeners) > 0 {
			return sockName(pt.listeners[0].FD())
		}
	}
	t.Fatalf("no listener for %s", name)
	return ""
}

// waitEvents polls until n events whose message contains sub were printed.
func (rn *running) waitEvents(t *testing.T, sub string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c := 0
		for _, m := range rn.rec.messages() {
			if strings.Contains(m, sub) {
				c++
			}
		}
		if c >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("fewer than %d events %q within %s: %q", n, sub, timeout, rn.rec.messages())
}

// load sends requests on fresh connections from 8 goroutines until stop is
// closed, counting answers per worker and every failure.
type load struct {
	ok      atomic.Int64
	mu      sync.Mutex
	errs    []error
	workers map[string]int
	wg      sync.WaitGroup
	stop    chan struct{}
}

func startLoad(url string) *load {
	l := &load{workers: map[string]int{}, stop: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for range 8 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				resp, err := client.Get(url)
				if err == nil {
					var b []byte
					b, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
					if err == nil {
						l.ok.Add(1)
						l.mu.Lock()
						l.workers[strings.Fields(string(b))[0]]++
						l.mu.Unlock()
						continue
					}
				}
				l.mu.Lock()
				l.errs = append(l.errs, err)
				if os.Getenv("RUNNER_TEST_TRACE") != "" {
					fmt.Fprintln(os.Stderr, time.Now().Format("15:04:05.000"), "ERR", err)
				}
				l.mu.Unlock()
			}
		}()
	}
	return l
}

// served is how many workers have answered so far.
func (l *load) served() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.workers)
}

func (l *load) finish() (int64, []error, map[string]int) {
	close(l.stop)
	l.wg.Wait()
	return l.ok.Load(), l.errs, l.workers
}

func workerPid(t *testing.T, rn *running, name string) int {
	for _, pt := range rn.r.types {
		for _, s := range pt.slots {
			if s.name == name {
				s.mu.Lock()
				pid := s.info.PID
				s.mu.Unlock()
				return pid
			}
		}
	}
	t.Fatalf("no worker %s", name)
	return 0
}

func TestZeroDowntimeUnderLoad(t *testing.T) {
	for _, mode := range []procfile.SocketMode{procfile.SocketInherit, procfile.SocketProxy} {
		t.Run(string(mode), func(t *testing.T) {
			p := helperProc("web", mode, 2)
			rn := start(t, Options{Config: config(p)})
			rn.waitEvents(t, " ready", 2, 20*time.Second)
			url := "http://" + rn.addr(t, "web") + "/"

			// A crash of one worker refuses nothing: the other one serves and
			// the socket keeps queueing. Only requests the killed worker had
			// already accepted can fail (a proxy cannot replay them either).
			l := startLoad(url)
			rn.waitEvents(t, "", 1, time.Second)
			for l.ok.Load() < 200 {
				time.Sleep(5 * time.Millisecond)
			}
			syscall.Kill(workerPid(t, rn, "web.1"), syscall.SIGKILL)
			rn.waitEvents(t, " ready", 3, 20*time.Second)
			ok, errs, _ := l.finish()
			t.Logf("%s, SIGKILL of a worker: %d requests, %d failed (in flight at the killed worker)", mode, ok, len(errs))
			for _, err := range errs {
				if strings.Contains(err.Error(), "refused") {
					t.Errorf("a connection was refused during a crash: %v", err)
				}
			}
			if len(errs) > 8 {
				t.Errorf("%d failures: more than the 8 requests that can be in flight", len(errs))
			}

			l = startLoad(url)
			for i := 1; i <= 3; i++ {
				if err := rn.r.Reload("web"); err != nil {
					t.Fatal(err)
				}
				rn.waitEvents(t, "web reloaded", i, 30*time.Second)
			}
			ok, errs, workers := l.finish()
			t.Logf("%s, 3 rolling reloads: %d requests, %d errors, per worker %v", mode, ok, len(errs), workers)
			if len(errs) > 0 {
				t.Errorf("%d failed requests during reloads, first: %v", len(errs), errs[0])
			}
			if len(workers) < 2 || ok < 100 {
				t.Errorf("want >= 2 workers answering and >= 100 requests, got %v", workers)
			}
			for _, m := range rn.rec.messages() {
				if strings.Contains(m, "SIGKILL") && !strings.Contains(m, "signal SIGKILL") {
					t.Errorf("a Go worker did not drain within stop_timeout: %s", m)
				}
			}
		})
	}
}

func TestReloadGoWorkersManyTimes(t *testing.T) {
	p := helperProc("web", procfile.SocketInherit, 2)
	p.StopTimeout = 3 * time.Second
	rn := start(t, Options{Config: config(p)})
	rn.waitEvents(t, " ready", 2, 20*time.Second)
	n := 20
	if testing.Short() {
		n = 5
	}
	for i := 1; i <= n; i++ {
		rn.r.Reload()
		rn.waitEvents(t, "web reloaded", i, 30*time.Second)
	}
	for _, m := range rn.rec.messages() {
		if strings.Contains(m, "did not stop within") {
			t.Errorf("old worker hung instead of draining: %s", m)
		}
	}
	if c := strings.Count(strings.Join(rn.rec.messages(), "\n"), "exited (status 0)"); c != 2*n {
		t.Errorf("%d clean exits, want %d", c, 2*n)
	}
}

func TestReloadAbortsWhenReplacementNeverReady(t *testing.T) {
	dir := t.TempDir()
	p := helperProc("web", procfile.SocketInherit, 2)
	p.Dir = dir
	p.Ready.Timeout = time.Second
	rn := start(t, Options{Config: config(p)})
	rn.waitEvents(t, " ready", 2, 20*time.Second)
	pids := []int{workerPid(t, rn, "web.1"), workerPid(t, rn, "web.2")}
	os.WriteFile(dir+"/broken", nil, 0o644)
	rn.r.Reload("web")
	rn.waitEvents(t, "reload of web aborted", 1, 20*time.Second)
	after := []int{workerPid(t, rn, "web.1"), workerPid(t, rn, "web.2")}
	if fmt.Sprint(pids) != fmt.Sprint(after) {
		t.Errorf("workers changed after an aborted reload: %v -> %v", pids, after)
	}
	resp, err := http.Get("http://" + rn.addr(t, "web") + "/")
	if err != nil {
		t.Fatalf("old workers do not answer after the aborted reload: %v", err)
	}
	resp.Body.Close()
}

func TestInheritEnvAndTwoListeners(t *testing.T) {
	p := shProc("web", `echo "fds=$LISTEN_FDS names=$LISTEN_FDNAMES pid=$LISTEN_PID me=$$"; ls /proc/$$/fd`)
	p.Restart = procfile.RestartOnFailure
	dir := t.TempDir()
	p.Listen = []procfile.Address{
		{Network: "tcp", Addr: "127.0.0.1:0", Raw: "127.0.0.1:0"},
		{Network: "unix", Addr: dir + "/web.sock", Raw: "unix:" + dir + "/web.sock"},
	}
	rn := start(t, Options{Config: config(p)})
	line := rn.rec.waitLine(t, `fds=`, 10*time.Second)
	var fds, me, pid int
	var names string
	fmt.Sscanf(strings.SplitN(line, ": ", 2)[1], "fds=%d names=%s pid=%d me=%d", &fds, &names, &pid, &me)
	if fds != 2 || names != "web-0:web-web.sock" || pid != me {
		t.Errorf("got %q: want LISTEN_FDS=2, LISTEN_FDNAMES=web-0:web-web.sock, LISTEN_PID = its own pid", line)
	}
	rn.wait(t, 10*time.Second)
	if _, err := os.Stat(dir + "/web.sock"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unix socket file left behind: %v", err)
	}
}

func TestAppThatBindsThePortItself(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := helperProc("web", procfile.SocketInherit, 1)
	p.Env = append(os.Environ(), "RUNNER_TEST_HELPER=bindself", "BIND_ADDR="+addr) // the address the runner holds
	p.Listen = []procfile.Address{{Network: "tcp", Addr: addr, Raw: addr}}
	p.Restart = procfile.RestartNever
	rn := start(t, Options{Config: config(p)})
	rn.waitEvents(t, "bound the port itself", 1, 20*time.Second)
	if err := rn.wait(t, 10*time.Second); !errors.Is(err, ErrFailed) {
		t.Errorf("Run = %v, want ErrFailed", err)
	}
}

func TestSharedSocketShutdownIsRecreated(t *testing.T) {
	p := helperProc("web", procfile.SocketInherit, 2)
	p.Dir = t.TempDir()
	p.Env = append(os.Environ(), "RUNNER_TEST_HELPER=shutdown")
	p.Ready = procfile.Ready{Kind: procfile.ReadyDelay, Delay: 200 * time.Millisecond, Timeout: 10 * time.Second}
	rn := start(t, Options{Config: config(p)})
	rn.waitEvents(t, "stopped listening (a worker called shutdown() on it); re-created it", 1, 20*time.Second)
	rn.waitEvents(t, "web reloaded", 1, 30*time.Second)
	resp, err := http.Get("http://" + rn.addr(t, "web") + "/")
	if err != nil {
		t.Fatalf("no answer on the re-created socket: %v", err)
	}
	resp.Body.Close()
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func TestIPv6Loopback(t *testing.T) {
	if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	} else {
		ln.Close()
	}
	for _, mode := range []procfile.SocketMode{procfile.SocketInherit, procfile.SocketProxy} {
		t.Run(string(mode), func(t *testing.T) {
			p := helperProc("web", mode, 2)
			p.Listen = []procfile.Address{{Network: "tcp", Addr: "[::1]:0", Raw: "[::1]:0"}}
			rn := start(t, Options{Config: config(p)})
			rn.waitEvents(t, " ready", 2, 20*time.Second)
			addr := rn.addr(t, "web")
			if !strings.HasPrefix(addr, "[::1]:") {
				t.Fatalf("bound %s, want [::1]", addr)
			}
			l := startLoad("http://" + addr + "/")
			// Both workers serve. In inherit mode the kernel picks which one
			// accepts, unevenly (see the README): on a busy machine one can
			// take the first hundred, so the load goes on until the other
			// has served too.
			for deadline := time.Now().Add(20 * time.Second); l.ok.Load() < 100 || (l.served() < 2 && time.Now().Before(deadline)); {
				time.Sleep(5 * time.Millisecond)
			}
			ok, errs, workers := l.finish()
			if len(errs) > 0 || len(workers) < 2 {
				t.Errorf("%d requests, errors %v, workers %v", ok, errs, workers)
			}
		})
	}
}

func TestPortAccepts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if up, known := portAccepts(port); !up || !known {
		t.Errorf("port %d with a listener: up=%v known=%v, want true true", port, up, known)
	}
	ln.Close()
	if up, known := portAccepts(port); up || !known {
		t.Errorf("port %d without one: up=%v known=%v, want false true", port, up, known)
	}
}

// A connect to a port in the ephemeral range that nothing listens on can
// get that same port as its own and connect to itself: not a listener.
func TestPortAcceptsIgnoresSelfConnect(t *testing.T) {
	lo, hi := 32768, 60999
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		fmt.Sscan(string(b), &lo, &hi)
	}
	// An even port (Linux gives connects even source ports first) that
	// nothing listens on now.
	port := 0
	for p := (lo + (hi-lo)/2) &^ 1; p < hi; p += 2 {
		if up, known := portAccepts(p); known && !up {
			port = p
			break
		}
	}
	if port == 0 {
		t.Skip("no free even port in the ephemeral range")
	}
	// Without the check this fails within 0.2 s here.
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; i < 100000 && time.Now().Before(deadline); i++ {
		if up, _ := portAccepts(port); up {
			t.Fatalf("attempt %d: port %d reported listening with no listener (a self-connect)", i+1, port)
		}
	}
}

// A socket passed by the service manager is found by the port as bound:
// listen = ":010080" is port 10080, which systemd names "[::]:10080".
func TestActivatedTakeReadsThePortAsANumber(t *testing.T) {
	for _, tc := range []struct{ have, listen string }{
		{"[::]:10080", ":010080"},
		{"127.0.0.1:18453", "localhost:018453"},
		{"127.0.0.1:18090", "[::ffff:127.0.0.1]:018090"},
		{"[::1]:8080", "[::1]:8080"},
	} {
		a := activated{tc.have: 7}
		if fd, ok := a.take(procfile.Address{Network: "tcp", Addr: tc.listen, Raw: tc.listen}); !ok || fd != 7 {
			t.Errorf("listen %s: the passed socket %s not taken", tc.listen, tc.have)
		}
	}
}

// portAccepts answers for a port that only [::1] listens on too.
func TestPortAcceptsOnIPv6Loopback(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if up, known := portAccepts(port); !up || !known {
		t.Errorf("port %d with a listener on [::1]: up=%v known=%v, want true true", port, up, known)
	}
	ln.Close()
	if up, known := portAccepts(port); up || !known {
		t.Errorf("port %d without one: up=%v known=%v, want false true", port, up, known)
	}
}
