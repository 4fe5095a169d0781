package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/cluster-run/cluster/runner"
)

// metricsMaxConns caps the connections --metrics holds open at once: a
// scraper uses one. More wait in the listen backlog (runner.LimitListener),
// so clients can never take the descriptors the workers' pipes need.
const metricsMaxConns = 64

// metricsTimeouts bound how long a client holds one of those connections.
type metricsTimeouts struct {
	readHeader, read, write, idle time.Duration
}

// A scrape is a bodiless GET answered from memory and /proc: a client
// slower than this is stuck or hostile (slowloris).
var defaultMetricsTimeouts = metricsTimeouts{
	readHeader: 5 * time.Second,
	read:       10 * time.Second,
	write:      30 * time.Second,
	idle:       30 * time.Second, // keep-alive between scrapes
}

// httpAddr is the address --metrics and --health bind: loopback unless the
// user wrote a host ("9100" and ":9100" are "127.0.0.1:9100").
func httpAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		// A bare port means loopback.
		host, port = "127.0.0.1", strings.TrimPrefix(addr, ":")
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// listenMetrics binds --metrics (or --health) at httpAddr(addr).
func listenMetrics(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", httpAddr(addr))
	if err != nil {
		return nil, err
	}
	return runner.LimitListener(ln, metricsMaxConns), nil
}

// newMetricsServer serves metricsHandler on a listener from listenMetrics.
func newMetricsServer(r *runner.Runner) *http.Server {
	return metricsServer(metricsHandler(r), defaultMetricsTimeouts)
}

func metricsServer(h http.Handler, t metricsTimeouts) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.readHeader,
		ReadTimeout:       t.read,
		WriteTimeout:      t.write,
		IdleTimeout:       t.idle,
		MaxHeaderBytes:    16 << 10, // a scrape's headers are a few hundred bytes
	}
}

// metricsHandler serves the Prometheus text format (version 0.0.4).
func metricsHandler(r *runner.Runner) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, req *http.Request) {
		if releasePhase.Load() {
			http.Error(w, "the release phase is running: metrics once the cluster starts", http.StatusServiceUnavailable)
			return
		}
		st, ok := statusWithin(r, 5*time.Second) // never a scrape that hangs
		if !ok {
			http.Error(w, "the supervisor does not answer (stopping?)", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		writeMetrics(w, &st)
	})
	return mux
}

func writeMetrics(w io.Writer, st *runner.Status) {
	family := func(name, typ, help string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	lbl := func(ws runner.WorkerStatus) string {
		return fmt.Sprintf(`process="%s",worker="%d"`, escapeLabel(ws.Process), ws.Index)
	}
	workers := seriesWorkers(st.Workers)
	family("cluster_worker_cpu_seconds_total", "counter", "CPU time of the worker's process group.")
	for _, ws := range workers {
		if ws.PID > 0 && !ws.UsageUnknown {
			fmt.Fprintf(w, "cluster_worker_cpu_seconds_total{%s} %g\n", lbl(ws), ws.CPUSeconds)
		}
	}
	family("cluster_worker_resident_memory_bytes", "gauge", "RSS of the worker's process group.")
	for _, ws := range workers {
		if ws.PID > 0 && !ws.UsageUnknown {
			fmt.Fprintf(w, "cluster_worker_resident_memory_bytes{%s} %d\n", lbl(ws), ws.RSS)
		}
	}
	family("cluster_worker_restarts_total", "counter", "Restarts of the worker slot.")
	for _, ws := range workers {
		fmt.Fprintf(w, "cluster_worker_restarts_total{%s} %d\n", lbl(ws), ws.Restarts)
	}
	family("cluster_worker_uptime_seconds", "gauge", "Seconds since the worker's process started.")
	for _, ws := range workers {
		fmt.Fprintf(w, "cluster_worker_uptime_seconds{%s} %g\n", lbl(ws), ws.UptimeSec)
	}
	family("cluster_worker_state", "gauge", "1 for the worker's current state.")
	for _, ws := range workers {
		fmt.Fprintf(w, "cluster_worker_state{%s,state=\"%s\"} 1\n", lbl(ws), ws.State)
	}
	family("cluster_worker_open_connections", "gauge", "Connections open through the proxy (proxy mode).")
	for _, ws := range workers {
		if ws.Conns != nil {
			fmt.Fprintf(w, "cluster_worker_open_connections{%s} %d\n", lbl(ws), *ws.Conns)
		}
	}
	family("cluster_process_ready_workers", "gauge", "Ready workers of the process type.")
	for _, t := range st.Types {
		fmt.Fprintf(w, "cluster_process_ready_workers{process=\"%s\"} %d\n", escapeLabel(t.Name), t.Ready)
	}
	family("cluster_process_workers", "gauge", "Wanted workers of the process type.")
	for _, t := range st.Types {
		fmt.Fprintf(w, "cluster_process_workers{process=\"%s\"} %d\n", escapeLabel(t.Name), t.Workers)
	}
	family("cluster_process_reloads_total", "counter", "Completed rolling reloads of the process type.")
	for _, t := range st.Types {
		fmt.Fprintf(w, "cluster_process_reloads_total{process=\"%s\"} %d\n", escapeLabel(t.Name), t.Reloads)
	}
}

// seriesWorkers keeps one worker per (process, index), as the format wants
// one series per label set: the slot that holds the index, not a reload's
// replacement still starting nor the old worker stopping after it (the
// series moves to the replacement when it takes over, as after a restart).
func seriesWorkers(all []runner.WorkerStatus) []runner.WorkerStatus {
	type key struct {
		process string
		index   int
	}
	at := map[key]int{}
	var out []runner.WorkerStatus
	for _, ws := range all {
		k := key{ws.Process, ws.Index}
		if j, ok := at[k]; ok {
			if out[j].Extra && !ws.Extra {
				out[j] = ws
			}
			continue
		}
		at[k] = len(out)
		out = append(out, ws)
	}
	return out
}

func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}
