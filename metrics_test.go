package main

import (
	"bufio"
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"

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
