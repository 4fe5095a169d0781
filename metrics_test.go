package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cluster-run/cluster/procfile"
	"github.com/cluster-run/cluster/runner"
)

// The metrics of a status are well-formed Prometheus text (parseMetrics)
// and carry its figures.
func TestMetricsTextFormat(t *testing.T) {
	conns := int64(3)
	last := 1
	st := &runner.Status{
		Types: []runner.TypeStatus{{Name: "web", Workers: 2, Ready: 1, Reloads: 4}},
		Workers: []runner.WorkerStatus{
			{Name: "web.1", Process: "web", Index: 1, PID: 10, State: runner.StateReady, UptimeSec: 1.5, CPUSeconds: 0.25, RSS: 1 << 20, Conns: &conns},
			{Name: "web.2", Process: "web", Index: 2, State: runner.StateBackoff, Restarts: 2, LastExit: &last},
		},
	}
	values := parseMetrics(t, metricsText(st))
	for series, want := range map[string]float64{
		`cluster_worker_resident_memory_bytes{process="web",worker="1"}`: 1 << 20,
		`cluster_worker_cpu_seconds_total{process="web",worker="1"}`:     0.25,
		`cluster_worker_open_connections{process="web",worker="1"}`:      3,
		`cluster_worker_restarts_total{process="web",worker="2"}`:        2,
		`cluster_worker_state{process="web",worker="2",state="backoff"}`: 1,
		`cluster_process_ready_workers{process="web"}`:                   1,
		`cluster_process_reloads_total{process="web"}`:                   4,
	} {
		if got, ok := values[series]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	if _, ok := values[`cluster_worker_resident_memory_bytes{process="web",worker="2"}`]; ok {
		t.Errorf("a worker without a process reports RSS")
	}
}

// metricsText is what /metrics serves for st.
func metricsText(st *runner.Status) string {
	var buf bytes.Buffer
	writeMetrics(&buf, st)
	return buf.String()
}

// parseMetrics checks text against the Prometheus text format (0.0.4)
// and returns each series' value: every sample's family is declared by
// HELP and TYPE before it, names and labels are well formed, values are
// numbers, and no series repeats.
func parseMetrics(t *testing.T, text string) map[string]float64 {
	t.Helper()
	sample := regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*)\})? (\S+)$`)
	types := map[string]string{}
	helps := map[string]bool{}
	values := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			helps[strings.Fields(rest)[0]] = true
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || (f[1] != "counter" && f[1] != "gauge") {
				t.Fatalf("bad TYPE line %q", line)
			}
			types[f[0]] = f[1]
			continue
		}
		m := sample.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("not a sample line: %q", line)
		}
		if types[m[1]] == "" || !helps[m[1]] {
			t.Errorf("%s sampled before its HELP/TYPE", m[1])
		}
		v, err := strconv.ParseFloat(m[4], 64)
		if err != nil {
			t.Errorf("value %q: %v", m[4], err)
		}
		if _, dup := values[m[1]+m[2]]; dup {
			t.Errorf("duplicate series %s%s", m[1], m[2])
		}
		values[m[1]+m[2]] = v
	}
	return values
}

// holdReady is a runner output that holds the second "ready" event of
// web.1 (its replacement's) until release is closed: a slow output, as
// back-pressure from the runner's stdout makes one. The replacement is then
// ready, and the supervisor has not yet handed it the index.
type holdReady struct {
	readies atomic.Int32
	held    chan struct{} // closed once it holds
	release chan struct{}
}

func (h *holdReady) Stream(runner.Stream) io.WriteCloser { return nopWriteCloser{} }
func (h *holdReady) Event(e runner.Event) {
	if e.Event == "ready" && e.Worker == "web.1" && h.readies.Add(1) == 2 {
		close(h.held)
		<-h.release
	}
}

// During a rolling restart the old and the new slot of web.1 both live:
// /metrics has one series per worker index all the same (the slot that
// holds the index), and the ready count never exceeds the wanted count.
func TestMetricsDuringRollingRestart(t *testing.T) {
	h := &holdReady{held: make(chan struct{}), release: make(chan struct{})}
	r, _, _ := startCluster(t, `
shutdown_timeout = "5s"
[process.web]
command = "sleep 1000"
workers = 2
ready = { delay = "300ms" }
`, h)
	var once sync.Once
	release := func() { once.Do(func() { close(h.release) }) }
	t.Cleanup(release) // runs before startCluster's, which waits for Run
	select {
	case err := <-r.Ready():
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("not ready within 10s")
	}
	status := func() *runner.Status {
		t.Helper()
		st, err := r.Status()
		if err != nil {
			t.Fatal(err)
		}
		return &st
	}
	// check says what is wrong with st: a duplicate series, more ready
	// workers than wanted or not wantReady (-1: any), or web.1 not
	// reported as ready.
	check := func(when string, st *runner.Status, wantReady int) {
		t.Helper()
		values := parseMetrics(t, metricsText(st))
		if got := st.Types[0].Ready; got > st.Types[0].Workers || (wantReady >= 0 && got != wantReady) {
			t.Errorf("%s: %d ready workers (%s), want %d (-1: at most %d)", when, got, statusLine(*st), wantReady, st.Types[0].Workers)
		}
		if v := values[`cluster_worker_state{process="web",worker="1",state="ready"}`]; v != 1 {
			t.Errorf("%s: web.1 not reported ready:\n%s", when, metricsText(st))
		}
	}
	if _, err := r.Restart("web.1"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	st := status()
	for len(st.Workers) != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the replacement of web.1 did not start within 10s: %+v", st.Workers)
		}
		time.Sleep(10 * time.Millisecond)
		st = status()
	}
	check("replacement starting", st, 2)
	select {
	case <-h.held:
	case <-time.After(10 * time.Second):
		t.Fatal("the replacement of web.1 was not ready within 10s")
	}
	check("replacement ready, not yet serving", status(), 2)
	release()
	deadline = time.Now().Add(10 * time.Second)
	for st = status(); len(st.Workers) != 2 || st.Types[0].Ready != 2; st = status() {
		if time.Now().After(deadline) {
			t.Fatalf("the restart of web.1 did not end within 10s: %s %+v", statusLine(*st), st.Workers)
		}
		check("old web.1 stopping", st, -1)
		time.Sleep(10 * time.Millisecond)
	}
	check("restarted", st, 2)
}

// openFDs counts the test process's descriptors, the server's among them.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// serveTestMetrics serves "ok" through listenMetrics (the real cap) with
// short timeouts.
func serveTestMetrics(t *testing.T, to metricsTimeouts) string {
	t.Helper()
	ln, err := listenMetrics("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := metricsServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }), to)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

var shortMetricsTimeouts = metricsTimeouts{readHeader: 300 * time.Millisecond, read: time.Second, write: time.Second, idle: 300 * time.Millisecond}

func TestMetricsServerTimeouts(t *testing.T) {
	srv := newMetricsServer(nil)
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 {
		t.Errorf("--metrics server without a bound: header %v, read %v, write %v, idle %v, header bytes %d",
			srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
	}
}

// Idle clients beyond the cap cost no descriptor, and a scrape queued
// behind them is answered once the header timeout has cut them.
func TestMetricsIdleConnectionsAreCapped(t *testing.T) {
	addr := serveTestMetrics(t, shortMetricsTimeouts)
	base := openFDs(t)
	const idle = metricsMaxConns + 100
	conns := make([]net.Conn, 0, idle)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range idle {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	type result struct {
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := client.Get("http://" + addr + "/metrics")
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- result{string(b), err}
	}()
	limit := base + idle + metricsMaxConns + 8 // the scrape's two ends are the slack
	peak := 0
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	var res result
wait:
	for {
		select {
		case res = <-done:
			peak = max(peak, openFDs(t))
			break wait
		case <-tick.C:
			peak = max(peak, openFDs(t))
		}
	}
	if res.err != nil || res.body != "ok" {
		t.Fatalf("scrape behind %d idle connections: %q %v", idle, res.body, res.err)
	}
	if peak > limit {
		t.Errorf("%d idle metrics connections took the process from %d to %d fds; want at most %d (cap %d)", idle, base, peak, limit, metricsMaxConns)
	}
}

// A client sending its headers a byte at a time is cut after the header
// timeout, however steadily it sends.
func TestMetricsSlowlorisIsCut(t *testing.T) {
	addr := serveTestMetrics(t, shortMetricsTimeouts)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		head := "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("a", 10000)
		tick := time.NewTicker(20 * time.Millisecond) // the client's pace, not synchronisation
		defer tick.Stop()
		for i := range len(head) {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := conn.Write([]byte{head[i]}); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	conn.SetReadDeadline(start.Add(5 * time.Second))
	// The server may answer 400 first; what matters is that it closes.
	if _, err := io.Copy(io.Discard, conn); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("slowloris client after %v: %v; want the connection closed after the %v header timeout", time.Since(start).Round(time.Millisecond), err, shortMetricsTimeouts.readHeader)
	}
}

// --metrics and --health name one server when their addresses are the same
// once a missing host is read as loopback.
func TestHTTPAddr(t *testing.T) {
	for in, want := range map[string]string{
		"9100":           "127.0.0.1:9100",
		":9100":          "127.0.0.1:9100",
		"127.0.0.1:9100": "127.0.0.1:9100",
		"0.0.0.0:9100":   "0.0.0.0:9100",
		"[::1]:9100":     "[::1]:9100",
	} {
		if got := httpAddr(in); got != want {
			t.Errorf("httpAddr(%q) = %q, want %q", in, got, want)
		}
	}
}

// While a Procfile's release phase runs (the cluster's supervisor has not
// started), the HTTP endpoints answer at once: /livez 200 (a long
// migration is not a hang: a liveness probe must not kill the pod), /readyz
// and /metrics 503 with why. Before, /livez failed after 2 s and a scrape
// of /metrics hung for the whole release.
func TestHTTPEndpointsDuringTheReleasePhase(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "Clusterfile")
	if err := os.WriteFile(path, []byte("[process.web]\ncommand = \"sleep 1000\"\nworkers = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := procfile.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := runner.New(runner.Options{Config: cfg, Output: nopOutput{}, NoPTY: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close() // never run: as during the release
	releasePhase.Store(true)
	defer releasePhase.Store(false)
	h := healthHandler(r)
	h.Handle("/metrics", metricsHandler(r))
	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{"/livez", 200, "release phase"},
		{"/readyz", 503, "release phase"},
		{"/metrics", 503, "release phase"},
	} {
		done := make(chan *httptest.ResponseRecorder, 1)
		go func() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", tc.path, nil))
			done <- w
		}()
		select {
		case w := <-done:
			if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.body) {
				t.Errorf("%s: %d %q, want %d and %q", tc.path, w.Code, w.Body.String(), tc.code, tc.body)
			}
		case <-time.After(1500 * time.Millisecond):
			t.Errorf("%s: no answer within 1.5 s", tc.path)
		}
	}
}
