package runner

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// tail keeps the last lines a worker printed, for `-- COMMAND` to repeat when
// the cluster cannot become ready. It is fed every line of every worker, so
// add copies into buffers it reuses; strings are made only by get.
type tail struct {
	mu    sync.Mutex
	lines [][]byte
	next  int
	full  bool
}

const (
	tailLines = 20
	tailKeep  = 1 << 10 // a line buffer kept for reuse is at most this large
)

func (t *tail) add(line []byte) {
	t.mu.Lock()
	if t.lines == nil {
		t.lines = make([][]byte, tailLines)
	}
	b := t.lines[t.next]
	if cap(b) < len(line) || cap(b) > tailKeep && len(line) <= tailKeep {
		b = make([]byte, 0, max(len(line), 128)) // a long line's buffer goes with the next short line
	}
	t.lines[t.next] = append(b[:0], line...)
	t.next = (t.next + 1) % tailLines
	if t.next == 0 {
		t.full = true
	}
	t.mu.Unlock()
}

func (t *tail) get() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lines == nil {
		return nil
	}
	var out []string
	if t.full {
		for _, l := range t.lines[t.next:] {
			out = append(out, string(l))
		}
	}
	for _, l := range t.lines[:t.next] {
		out = append(out, string(l))
	}
	return out
}

// NotReadyError says which worker kept the cluster from becoming ready, with
// its last lines.
type NotReadyError struct {
	Worker string
	Why    string
	Lines  []string
}

func (e *NotReadyError) Error() string {
	if len(e.Lines) == 0 {
		return e.Worker + " " + e.Why + "; it printed nothing"
	}
	return fmt.Sprintf("%s %s; its last %s:\n%s", e.Worker, e.Why, plural(len(e.Lines), "line"), strings.Join(e.Lines, "\n"))
}

// Ready returns a channel that receives nil once every worker started by Run
// has been ready at least once, or a *NotReadyError as soon as one of them
// exits or times out before it is ready. It receives exactly once.
func (r *Runner) Ready() <-chan error { return r.readyResult }

// noteFirstReady and noteNotReady run on the supervisor goroutine.
func (r *Runner) noteFirstReady(s *slot) {
	if r.readyPending == nil || !r.readyPending[s] {
		return
	}
	delete(r.readyPending, s)
	r.maybeReady()
}

// maybeReady answers Ready once every initial worker is ready and no
// initial type waits for its dependencies.
func (r *Runner) maybeReady() {
	if r.readyPending != nil && len(r.readyPending) == 0 && len(r.readyWaiting) == 0 {
		r.readyPending = nil
		r.readyResult <- nil
	}
}

func (r *Runner) noteNotReady(s *slot, why string) {
	if r.readyPending == nil || !r.readyPending[s] {
		return
	}
	r.readyPending = nil
	r.readyResult <- &NotReadyError{Worker: s.name, Why: why, Lines: s.tail.get()}
}

// Exec runs a command (path, or argv[0] found in this process's PATH when
// path is "") in the foreground with the given env and this
// process's stdin, stdout and stderr, and returns its exit status (128+N
// when signal N killed it) and the signal that killed it (0 when it
// exited). It forks through the reaper, the one place that
// waits for children; the command stays in the runner's process group, so a
// Ctrl-C (or Ctrl-\, or a window resize) at the terminal reaches it too, and
// is not passed on a second time. Every other signal read from signals is
// passed on, as tini does.
//
// While it runs, Stop (`cluster stop`) stops the command rather than the
// cluster: SIGTERM, then SIGKILL (to it and its descendants) after
// stopTimeout. The caller stops the cluster once Exec returns, within what
// is left of the same shutdown_timeout (startBudget).
func (r *Runner) Exec(path string, argv []string, env []string, signals <-chan os.Signal, stopTimeout time.Duration) (int, syscall.Signal, error) {
	if len(argv) == 0 {
		return 0, 0, errors.New("no command")
	}
	if path == "" {
		var err error
		if path, err = exec.LookPath(argv[0]); err != nil {
			return 0, 0, err
		}
	}
	sys := &syscall.SysProcAttr{}
	parentDeathSignal(sys)
	attr := &syscall.ProcAttr{Env: env, Files: []uintptr{0, 1, 2}, Sys: sys}
	stopReq := make(chan struct{}, 1)
	// The cluster may end before the command (its types all one-shots):
	// the command is not one of its leftovers.
	r.execMu.Lock()
	rp := getReaper(r.opts.ReapAll)
	pid, done, err := rp.start(path, argv, attr)
	if errors.Is(err, syscall.ENOEXEC) {
		// A script without "#!": sh runs it, as for a worker, `cluster
		// exec` and execvp.
		if sh, shArgv, ok := ShellFallback(path, argv); ok {
			pid, done, err = rp.start(sh, shArgv, attr)
		}
	}
	if err == nil {
		r.execPid, r.execName, r.execStop = pid, argv[0], stopReq
	}
	r.execMu.Unlock()
	if err != nil {
		return 0, 0, err
	}
	defer func() {
		r.execMu.Lock()
		r.execPid, r.execName, r.execStop = 0, "", nil
		r.execMu.Unlock()
	}()
	var kill <-chan time.Time
	for {
		select {
		case st := <-done:
			if st.Signal != 0 {
				return 128 + int(st.Signal), st.Signal, nil
			}
			return st.Code, 0, nil
		case <-stopReq:
			if kill == nil {
				r.Log(fmt.Sprintf("stopping %s (cluster stop): SIGTERM, SIGKILL after %s; then the cluster", argv[0], stopTimeout))
				r.execMu.Lock()
				r.execStopAt = time.Now()
				r.execMu.Unlock()
				syscall.Kill(pid, sigTERM)
				t := time.NewTimer(stopTimeout)
				defer t.Stop()
				kill = t.C
			}
		case <-kill:
			r.Log(fmt.Sprintf("%s did not stop within %s of SIGTERM: SIGKILL", argv[0], stopTimeout))
			killTree(pid)
		case sig := <-signals:
			s, ok := sig.(syscall.Signal)
			if !ok {
				continue
			}
			if (s == syscall.SIGINT || s == syscall.SIGQUIT || s == syscall.SIGWINCH) && terminalSentToUs() {
				// A key typed (or a resize) at the terminal: it sent the
				// command its own, as to every process of the foreground group.
				if s != syscall.SIGWINCH { // a resize sends dozens: not a line each
					r.Log(fmt.Sprintf("%s came from the terminal, which sent %s its own", SignalName(s), argv[0]))
				}
				continue
			}
			if s != syscall.SIGWINCH {
				r.Log(fmt.Sprintf("passing %s on to %s", SignalName(s), argv[0]))
			}
			syscall.Kill(pid, s)
		}
	}
}

// killTree SIGKILLs pid and every descendant of it (found before pid dies:
// its children are re-parented then), with the groups they lead. COMMAND
// runs in the runner's own process group, so no group kill reaches its
// children; without /proc (the portable path) only pid is killed.
func killTree(pid int) {
	// Its descendants are found first (once it is dead they are the
	// subreaper's children, no longer found under it), then it is killed
	// first: a shell killed after its child could see the child die and
	// exit 0 before its own SIGKILL lands (`sleep 300 & wait`).
	below := descendantsOf(pid)
	signalTree(pid, sigKILL)
	for _, d := range below {
		signalTree(d, sigKILL)
	}
}

// stopCommand asks a running Exec to stop its command (`cluster stop`
// while `-- COMMAND` runs: the command stops first, then the cluster) and
// returns the command's name, or "" when none runs.
func (r *Runner) stopCommand() string {
	r.execMu.Lock()
	defer r.execMu.Unlock()
	if r.execStop == nil {
		return ""
	}
	select {
	case r.execStop <- struct{}{}:
	default: // asked already
	}
	return r.execName
}

// plural is "1 worker", "2 workers", "0 workers" ("crash" takes "es").
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	if strings.HasSuffix(word, "sh") || strings.HasSuffix(word, "s") {
		return strconv.Itoa(n) + " " + word + "es"
	}
	return strconv.Itoa(n) + " " + word + "s"
}
