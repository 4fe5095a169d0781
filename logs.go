package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cluster-run/cluster/logmux"
	"github.com/cluster-run/cluster/runner"
)

const logsSynopsis = `[PROCESS[.N] ...] [-n N] [-f | --follow] [--json] [--timestamps]
[--color auto|always|never] [--file FILE]`

// cmdLogs prints the lines the running cluster kept of its workers (the
// last 1,000 or 1 MiB per type), as `run` prints them; -f follows. -f is
// follow here, as in docker, kubectl and tail: the Clusterfile is --file.
// Exit status: 0 done (and on Ctrl-C while following, or when the cluster
// ends); 1 the cluster is not running or refused, or stopped before this
// reader had read every line, or a line could not be written (it stops at
// the first failed write, as cat); 2 usage.
func cmdLogs(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("logs", logsSynopsis, stdout)
	var follow, asJSON, timestamps bool
	fs.BoolVar(&follow, "f", false, "follow: print new lines as they come, until Ctrl-C or the cluster ends")
	fs.BoolVar(&follow, "follow", false, "the same as -f")
	n := fs.Int("n", -1, "`N` print only the last N kept lines (default all: at most 1,000 or 1 MiB per process type)")
	fs.BoolVar(&asJSON, "json", false, "one JSON object per line, as run --log-format json prints them")
	fs.BoolVar(&timestamps, "timestamps", false, "prefix every line with the time it was printed")
	colorMode := fs.String("color", "auto", "`auto|always|never` colour the output; auto: when stdout is a terminal and NO_COLOR is empty")
	file := fs.String("file", "", "`FILE` the Clusterfile or Procfile of the running cluster (its directory holds the control socket)")
	pos, code := parseFlags(fs, args, stderr)
	if code >= 0 {
		return code
	}
	bad := ""
	switch {
	case *colorMode != "auto" && *colorMode != "always" && *colorMode != "never":
		bad = fmt.Sprintf("--color %q: want auto, always or never", *colorMode)
	case *n < -1:
		bad = fmt.Sprintf("-n %d: want N >= 0", *n)
	}
	for _, a := range pos {
		if bad == "" && !workerArg(a) {
			bad = fmt.Sprintf("%q is not PROCESS or PROCESS.N", a)
		}
	}
	if bad != "" {
		usageError(stderr, "logs", "%s", bad)
		return 2
	}
	req := runner.Request{Cmd: "logs", Args: pos, Follow: follow}
	if *n >= 0 {
		req.N = n
	}

	// Each line is printed at the time it was printed by the worker: the
	// mux's clock is the line's time.
	var at time.Time
	mux := logmux.New(stdout, logmux.Options{
		Color: useColor(*colorMode, stdout), JSON: asJSON, Timestamps: timestamps,
		Terminal: isTerminal(stdout), Now: func() time.Time { return at },
	})
	defer mux.Close()
	type key struct {
		process, stream string
		worker, pid     int
	}
	writers := map[key]io.WriteCloser{}
	defer func() {
		for _, w := range writers {
			w.Close()
		}
	}()
	var buf []byte
	var writeErr error // the first failed write to stdout
	print := func(l runner.LogLine) error {
		at = l.Time
		if l.Skipped > 0 {
			mux.Event(logmux.Event{Worker: l.Process, Event: "skipped", Message: fmt.Sprintf("-- %s skipped --", plural(int(l.Skipped), "line")),
				Fields: map[string]any{"skipped": int64(l.Skipped)}})
		} else {
			k := key{l.Process, l.Stream, l.Worker, l.PID}
			w := writers[k]
			if w == nil {
				w = mux.Writer(logmux.Stream{Process: l.Process, Worker: l.Worker, PID: l.PID, Stream: l.Stream})
				writers[k] = w
			}
			buf = append(l.AppendLine(buf[:0]), '\n')
			w.Write(buf) // a whole line: printed at once, or counted lost
		}
		// The mux counts a line that failed instead of returning an error
		// (the runner's workers must not stop): here it ends the command.
		if n, err := mux.Lost(); n > 0 {
			writeErr = err
			return err
		}
		return nil
	}

	// Ctrl-C (or TERM) ends following: exit 0.
	stop := make(chan struct{})
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		if _, ok := <-sigs; ok {
			close(stop)
		}
	}()

	path, err := controlTarget(*file)
	if err == nil {
		err = runner.CallLogs(path, req, stop, func(r runner.Response) {
			mux.SetProcesses(r.Processes...)
			mux.SetNames(r.Lines...)
		}, print)
	}
	var refused *runner.RefusedError
	switch {
	case writeErr != nil:
		fmt.Fprintf(stderr, "cluster logs: %v\n", writeErr)
	case err == nil:
		return 0
	case errors.Is(err, runner.ErrNotRunning), errors.Is(err, runner.ErrLogsCut):
		fmt.Fprintf(stderr, "cluster logs: %v\n", err)
	case errors.As(err, &refused) && refused.Reason == runner.ErrNotRunning.Error():
		fmt.Fprintf(stderr, "cluster logs: %s (it is stopping)\n", refused.Reason)
	case errors.As(err, &refused):
		fmt.Fprintf(stderr, "cluster logs: the cluster refused: %s\n", refused.Reason)
	default:
		fmt.Fprintf(stderr, "cluster logs: cannot reach the cluster: %v\n", err)
	}
	return 1
}
