package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cluster-run/cluster/procfile"
	"github.com/cluster-run/cluster/runner"
)

// controlTarget finds the socket for a client command (see sockpath.go):
// for the Clusterfile of -f, else the current directory's
// Clusterfile/Procfile, else the current directory.
func controlTarget(file string) (string, error) {
	if file == "" {
		if found, err := procfile.Find("."); err == nil {
			file = found
		}
	}
	dir := "."
	if file != "" {
		dir = filepath.Dir(file)
	}
	return findControl(dir)
}

var controlSynopsis = map[string]string{
	"status":  "[-f FILE] [--json | --watch]",
	"reload":  "[-f FILE] [--wait [--timeout DURATION]] [PROCESS ...]",
	"restart": "[-f FILE] [--wait [--timeout DURATION]] PROCESS[.N] ...",
	"scale":   "[-f FILE] PROCESS=N ...",
	"signal":  "[-f FILE] PROCESS[.N] SIGNAL",
	"stop":    "[-f FILE] [PROCESS ...]",
	"start":   "[-f FILE] PROCESS ...",
}

// workerArg is PROCESS or PROCESS.N; scaleArg is PROCESS=N.
func workerArg(a string) bool {
	name, n, indexed := strings.Cut(a, ".")
	return procfile.ValidName(name) && (!indexed || digits(n))
}

func scaleArg(a string) bool {
	name, n, ok := strings.Cut(a, "=")
	return ok && procfile.ValidName(name) && digits(n)
}

// scaleInRange: N of a scaleArg is within the runner's limit per type (the
// runner would refuse more; a number too long for an int is no count).
func scaleInRange(a string) bool {
	_, n, _ := strings.Cut(a, "=")
	count, err := strconv.Atoi(n)
	return err == nil && count <= procfile.MaxWorkers
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// controlUsage checks the arguments of a control command before anything is
// sent; it returns what is wrong, or "".
func controlUsage(cmd string, pos []string) string {
	switch {
	case cmd == "status" && len(pos) > 0:
		return fmt.Sprintf("unexpected argument %q", pos[0])
	case cmd == "restart" && len(pos) == 0:
		return "missing PROCESS[.N]"
	case (cmd == "scale" || cmd == "start") && len(pos) == 0:
		return "missing " + strings.Fields(controlSynopsis[cmd])[2]
	case cmd == "signal" && len(pos) != 2:
		return "want PROCESS[.N] SIGNAL"
	}
	for i, a := range pos {
		switch {
		case (cmd == "reload" || cmd == "stop" || cmd == "start") && !procfile.ValidName(a):
			return fmt.Sprintf("%q is not a process type", a)
		case (cmd == "restart" || cmd == "signal" && i == 0) && !workerArg(a):
			return fmt.Sprintf("%q is not PROCESS or PROCESS.N", a)
		case cmd == "scale" && !scaleArg(a):
			return fmt.Sprintf("%q is not PROCESS=N with N >= 0", a)
		case cmd == "scale" && !scaleInRange(a):
			return fmt.Sprintf("%q: over the limit of %d workers per type", a, procfile.MaxWorkers)
		case cmd == "signal" && i == 1:
			if _, err := runner.ParseSignal(a); err != nil {
				return err.Error()
			}
		}
	}
	return ""
}

// cmdControl runs status, reload, restart, scale, signal and stop against
// the running cluster. Exit status: 0 done; 1 the cluster is not running or
// refused the request (one line says which); 2 usage.
func cmdControl(cmd string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags(cmd, controlSynopsis[cmd], stdout)
	file := fs.String("f", "", "`FILE` the Clusterfile or Procfile of the running cluster (its directory holds the control socket)")
	asJSON, watch := false, false
	if cmd == "status" {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
		fs.BoolVar(&watch, "watch", false, "redraw the table every second (q or Ctrl-C quits); into a pipe or file, print it every second")
	}
	wait, timeout := false, time.Duration(0)
	if cmd == "reload" || cmd == "restart" {
		fs.BoolVar(&wait, "wait", false, "return when the "+cmd+" finished: exit 0 when every worker it replaced or started is ready, 1 when it was aborted (the reason on stderr)")
		fs.DurationVar(&timeout, "timeout", 0, "`DURATION` with --wait: give up waiting after it (exit 1; the "+cmd+" goes on), e.g. 5m")
	}
	pos, code := parseFlags(fs, args, stderr)
	if code >= 0 {
		return code
	}
	if bad := controlUsage(cmd, pos); bad != "" {
		if cmd == "start" && len(pos) == 0 {
			bad += " (" + foremanStart + ")"
		}
		usageError(stderr, cmd, "%s", bad)
		return 2
	}
	if asJSON && watch {
		usageError(stderr, cmd, "--json and --watch: choose one")
		return 2
	}
	if timeout != 0 && (!wait || timeout < 0) {
		usageError(stderr, cmd, "--timeout needs --wait and a positive DURATION")
		return 2
	}
	path, err := controlTarget(*file)
	if err == nil && watch {
		return cmdStatusWatch(path, stdin, stdout, stderr)
	}
	var resp runner.Response
	accepted := false
	if err == nil && wait {
		resp, err = runner.CallWait(path, runner.Request{Cmd: cmd, Args: pos}, timeout, func(first runner.Response) {
			accepted = true
			for _, l := range first.Lines {
				fmt.Fprintln(stdout, l)
			}
		})
	} else if err == nil {
		resp, err = runner.Call(path, runner.Request{Cmd: cmd, Args: pos})
	}
	switch {
	case accepted && err != nil:
		fmt.Fprintf(stderr, "cluster %s: %v\n", cmd, err)
		return 1
	case accepted && !resp.OK:
		fmt.Fprintf(stderr, "cluster %s: %s\n", cmd, resp.Error)
		return 1
	case errors.Is(err, runner.ErrNotRunning):
		fmt.Fprintf(stderr, "cluster %s: %v%s\n", cmd, err, startHint(cmd))
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "cluster %s: cannot reach the cluster: %v%s\n", cmd, err, startHint(cmd))
		return 1
	case !resp.OK && resp.Error == runner.ErrNotRunning.Error():
		fmt.Fprintf(stderr, "cluster %s: %s (it is stopping)\n", cmd, resp.Error)
		return 1
	case !resp.OK && len(resp.Lines) > 0:
		// Part of it was done (a reload re-read the file): what, then why
		// the rest was not, as --wait says it.
		for _, l := range resp.Lines {
			fmt.Fprintln(stdout, l)
		}
		fmt.Fprintf(stderr, "cluster %s: %s\n", cmd, resp.Error)
		return 1
	case !resp.OK:
		// One line per error (a file with several), each with the prefix.
		for _, l := range strings.Split(strings.TrimRight(resp.Error, "\n"), "\n") {
			fmt.Fprintf(stderr, "cluster %s: the cluster refused: %s\n", cmd, l)
		}
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

// startHint is what `cluster start` adds when no cluster answers: the user
// may have meant foreman's start.
func startHint(cmd string) string {
	if cmd != "start" {
		return ""
	}
	return " (" + foremanStart + ")"
}

func printStatus(w io.Writer, st *runner.Status) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPID\tSTATE\tUPTIME\tRESTARTS\tCPU\tRSS\tCONNS\tLAST EXIT")
	for _, ws := range st.Workers {
		pid, up, cpu, rss := "-", "-", "-", "-"
		if ws.PID > 0 {
			pid = fmt.Sprint(ws.PID)
			up = (time.Duration(ws.UptimeSec) * time.Second).String()
			if !ws.UsageUnknown { // the platform could not read them (no /proc, ps failed)
				cpu = fmt.Sprintf("%.1f%%", ws.CPUPercent)
				rss = humanBytes(ws.RSS)
			}
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
		if t.Stopped {
			state = "stopped (cluster start " + t.Name + ")"
		} else if t.NotStarted != "" {
			state = "not started: " + t.NotStarted
		} else if len(t.WaitingFor) > 0 {
			state = "waiting for " + strings.Join(t.WaitingFor, " and ")
		} else if t.Failed {
			state += ", failed"
		} else if t.Completed {
			state += ", completed"
		}
		last := ""
		if t.LastExit != nil {
			last = fmt.Sprintf(", last exit %d", *t.LastExit)
		} else if t.LastSignal != "" {
			last = ", last exit " + t.LastSignal
		}
		fmt.Fprintf(w, "%s: %s, %s%s\n", t.Name, state, plural(t.Reloads, "reload"), last)
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
