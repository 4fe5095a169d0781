package main

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cluster-run/cluster/logmux"
	"github.com/cluster-run/cluster/runner"
)

// healthHandler serves what an orchestrator probes (--health ADDR):
//
//	/livez   200 while the supervisor answers within 2 s: the runner is alive
//	/readyz  200 when every type that should have workers has a ready one,
//	         503 otherwise (starting, all restarting, stopping, scaled to 0)
//
// The runner holds the shared sockets whatever the workers do, so a TCP
// probe of the app's port passes even when nothing can answer: probe these.
func healthHandler(r *runner.Runner) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/livez", func(w http.ResponseWriter, req *http.Request) {
		if releasePhase.Load() {
			fmt.Fprintln(w, "ok: the release phase is running") // alive: a long migration is not a hang
			return
		}
		if _, ok := statusWithin(r, 2*time.Second); !ok {
			http.Error(w, "the supervisor does not answer", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, req *http.Request) {
		if releasePhase.Load() {
			http.Error(w, "the release phase is running", http.StatusServiceUnavailable)
			return
		}
		st, ok := statusWithin(r, 2*time.Second)
		switch {
		case !ok:
			http.Error(w, "the supervisor does not answer (stopping?)", http.StatusServiceUnavailable)
		case len(notReady(st)) > 0:
			http.Error(w, "no ready worker: "+strings.Join(notReady(st), ", ")+" ("+statusLine(st)+")", http.StatusServiceUnavailable)
		case !anyWorkers(st):
			http.Error(w, "every type is scaled to 0", http.StatusServiceUnavailable)
		default:
			fmt.Fprintln(w, "ok: "+statusLine(st))
		}
	})
	return mux
}

// releasePhase is set while a Procfile's release type runs, before the
// cluster's supervisor starts: the HTTP endpoints answer for it at once.
var releasePhase atomic.Bool

func anyWorkers(st runner.Status) bool {
	for _, t := range st.Types {
		if t.Workers > 0 {
			return true
		}
	}
	return false
}

// serveHTTP starts what --metrics and --health ask for: one server when both
// name the same address (however written: ":9100" is "127.0.0.1:9100"), two
// otherwise. Each listener is loopback unless the
// address names a host, capped in connections and bounded in time.
func serveHTTP(r *runner.Runner, metricsAddr, healthAddr string, out *logmux.Mux) (stop func(), err error) {
	var servers []*http.Server
	stop = func() {
		for _, s := range servers {
			s.Close()
		}
	}
	serve := func(flag, addr string, h http.Handler, paths ...string) error {
		ln, err := listenMetrics(addr)
		if err != nil {
			return fmt.Errorf("--%s %s: %w", flag, addr, err)
		}
		srv := metricsServer(h, defaultMetricsTimeouts)
		servers = append(servers, srv)
		go srv.Serve(ln)
		for _, p := range paths {
			out.Printf("%s at http://%s%s", strings.TrimPrefix(p, "/"), ln.Addr(), p)
		}
		return nil
	}
	switch {
	case metricsAddr != "" && healthAddr != "" && httpAddr(metricsAddr) == httpAddr(healthAddr):
		h := healthHandler(r)
		h.Handle("/metrics", metricsHandler(r))
		err = serve("metrics", metricsAddr, h, "/metrics", "/livez", "/readyz")
	default:
		if metricsAddr != "" {
			err = serve("metrics", metricsAddr, metricsHandler(r), "/metrics")
		}
		if err == nil && healthAddr != "" {
			err = serve("health", healthAddr, healthHandler(r), "/livez", "/readyz")
		}
	}
	if err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}
