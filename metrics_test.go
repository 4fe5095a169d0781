package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cluster-run/cluster/runner"
)

// A small parser of the Prometheus text format (0.0.4): every sample's
// family is declared by HELP and TYPE before it, names and labels are well
// formed, values are numbers, and no series repeats.
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
	var buf bytes.Buffer
	writeMetrics(&buf, st)
	sample := regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*)\})? (\S+)$`)
	types := map[string]string{}
	helps := map[string]bool{}
	seen := map[string]bool{}
	values := map[string]float64{}
	sc := bufio.NewScanner(&buf)
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
		if seen[m[1]+m[2]] {
			t.Errorf("duplicate series %s%s", m[1], m[2])
		}
		seen[m[1]+m[2]] = true
		values[m[1]+m[2]] = v
	}
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
