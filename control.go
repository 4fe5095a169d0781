package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cluster-run/cluster/procfile"
	"github.com/cluster-run/cluster/runner"
)

// controlPath is where the control socket of the cluster of cfg lives:
// $CLUSTER_SOCKET, else .cluster.sock beside the Clusterfile.
func controlPath(dir string) string {
	if p := os.Getenv("CLUSTER_SOCKET"); p != "" {
		return p
	}
	return filepath.Join(dir, ".cluster.sock")
}

// controlTarget finds the socket for a client command: from -f's directory,
// else the current directory's Clusterfile/Procfile, else the current directory.
func controlTarget(file string) string {
	if os.Getenv("CLUSTER_SOCKET") != "" {
		return os.Getenv("CLUSTER_SOCKET")
	}
	if file == "" {
		if found, err := procfile.Find("."); err == nil {
			file = found
		}
	}
	dir := "."
	if file != "" {
		dir = filepath.Dir(file)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	return controlPath(abs)
}

var controlSynopsis = map[string]string{
	"status":  "[-f FILE] [--json]",
	"reload":  "[-f FILE] [PROCESS ...]",
	"restart": "[-f FILE] PROCESS[.N] ...",
	"scale":   "[-f FILE] PROCESS=N ...",
	"signal":  "[-f FILE] PROCESS[.N] SIGNAL",
	"stop":    "[-f FILE]",
}

// cmdControl runs status, reload, restart, scale, signal and stop against
// the running cluster.
func cmdControl(cmd string, args []string, stdout, stderr io.Writer) int {
	fs := newFlags(cmd, controlSynopsis[cmd], stdout)
	file := fs.String("f", "", "the Clusterfile or Procfile of the running cluster (its directory holds the control socket)")
	asJSON := false
	if cmd == "status" {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	}
	pos, code := parseFlags(fs, args, stderr)
	if code >= 0 {
		return code
	}
	switch {
	case (cmd == "status" || cmd == "stop") && len(pos) > 0:
		fmt.Fprintf(stderr, "cluster %s: unexpected argument %q (see \"cluster %s -h\")\n", cmd, pos[0], cmd)
		return 2
	case (cmd == "restart" || cmd == "scale") && len(pos) == 0:
		fmt.Fprintf(stderr, "cluster %s: missing %s (see \"cluster %s -h\")\n", cmd, strings.Fields(controlSynopsis[cmd])[2], cmd)
		return 2
	case cmd == "signal" && len(pos) != 2:
		fmt.Fprintf(stderr, "cluster signal: want PROCESS[.N] SIGNAL (see \"cluster signal -h\")\n")
		return 2
	}
	if cmd == "signal" {
		if _, err := runner.ParseSignal(pos[1]); err != nil {
			fmt.Fprintf(stderr, "cluster signal: %v\n", err)
			return 2
		}
	}
	path := controlTarget(*file)
	resp, err := runner.Call(path, runner.Request{Cmd: cmd, Args: pos})
	if err != nil {
		fmt.Fprintf(stderr, "cluster %s: %v\n", cmd, err)
		return 1
	}
	if !resp.OK {
		fmt.Fprintf(stderr, "cluster %s: %s\n", cmd, resp.Error)
		return 1
	}
	if resp.Status != nil {
		if asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			enc.Encode(resp.Status)
			return 0
		}
		printStatus(stdout, resp.Status)
		return 0
	}
	for _, l := range resp.Lines {
		fmt.Fprintln(stdout, l)
	}
	return 0
}

func printStatus(w io.Writer, st *runner.Status) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPID\tSTATE\tUPTIME\tRESTARTS\tCPU\tRSS\tCONNS\tLAST EXIT")
	for _, ws := range st.Workers {
		pid, up, cpu, rss := "-", "-", "-", "-"
		if ws.PID > 0 {
			pid = fmt.Sprint(ws.PID)
			up = (time.Duration(ws.UptimeSec) * time.Second).String()
			cpu = fmt.Sprintf("%.1f%%", ws.CPUPercent)
			rss = humanBytes(ws.RSS)
		}
		conns := "-"
		if ws.Conns != nil {
			conns = fmt.Sprint(*ws.Conns)
		}
		last := "-"
		if ws.LastExit != nil {
			last = fmt.Sprint(*ws.LastExit)
		} else if ws.LastSignal != "" {
			last = ws.LastSignal
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", ws.Name, pid, ws.State, up, ws.Restarts, cpu, rss, conns, last)
	}
	tw.Flush()
	for _, t := range st.Types {
		state := fmt.Sprintf("%d/%d ready", t.Ready, t.Workers)
		if t.Failed {
			state += ", failed"
		}
		last := ""
		if t.LastExit != nil {
			last = fmt.Sprintf(", last exit %d", *t.LastExit)
		} else if t.LastSignal != "" {
			last = ", last exit " + t.LastSignal
		}
		fmt.Fprintf(w, "%s: %s, %d reloads%s\n", t.Name, state, t.Reloads, last)
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fGiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0fKiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}
