package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cluster-run/cluster/runner"
)

// notifier speaks systemd's sd_notify protocol for `cluster run` itself
// (Type=notify units): READY=1 once every type is ready, RELOADING=1 and
// READY=1 around each reload request, STOPPING=1, STATUS= lines and
// WATCHDOG=1 pings while the supervisor answers. It is nil when
// NOTIFY_SOCKET is unset.
type notifier struct {
	conn *net.UnixConn

	mu        sync.Mutex
	ready     bool // READY=1 sent
	stopping  bool // STOPPING=1 sent: nothing else is said after it
	reloading bool // RELOADING=1 sent, its READY=1 not yet

	kick chan struct{} // ask the status goroutine for a new STATUS= line
}

// newNotifier connects to $NOTIFY_SOCKET ("@name" is the abstract namespace).
func newNotifier(socket string) (*notifier, error) {
	if socket == "" {
		return nil, nil
	}
	if socket[0] != '/' && socket[0] != '@' {
		return nil, fmt.Errorf("NOTIFY_SOCKET=%q: not a unix socket path", socket)
	}
	addr := &net.UnixAddr{Name: socket, Net: "unixgram"}
	if socket[0] == '@' {
		addr.Name = "\x00" + socket[1:]
	}
	c, err := net.DialUnix("unixgram", nil, addr)
	if err != nil {
		return nil, fmt.Errorf("NOTIFY_SOCKET=%s: %w", socket, err)
	}
	return &notifier{conn: c, kick: make(chan struct{}, 1)}, nil
}

func (n *notifier) send(lines ...string) {
	n.conn.Write([]byte(strings.Join(lines, "\n") + "\n"))
}

// monotonicUsec is CLOCK_MONOTONIC in µs, which RELOADING=1 must carry
// (systemd 253's MONOTONIC_USEC) so the manager can order the messages.
func monotonicUsec() string {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return strconv.FormatInt(ts.Nano()/1000, 10)
}

// Ready says READY=1 (the first time every type is ready).
func (n *notifier) Ready() {
	n.mu.Lock()
	send := !n.ready && !n.stopping
	n.ready = true
	n.mu.Unlock()
	if send {
		n.send("READY=1")
		n.update()
	}
}

// Event follows the runner's events: one RELOADING=1 at the first
// "reloading" of a reload request, its READY=1 at "reload_finished" (every
// reload queued meanwhile done or aborted, a one-shot run again started),
// and the stop.
func (n *notifier) Event(e runner.Event) {
	n.mu.Lock()
	var lines []string
	switch e.Event {
	case "reloading":
		if !n.reloading && n.ready && !n.stopping {
			n.reloading = true
			lines = []string{"RELOADING=1", "MONOTONIC_USEC=" + monotonicUsec()}
		}
	case "reload_finished":
		if n.reloading && !n.stopping {
			n.reloading = false
			lines = []string{"READY=1"}
		}
	case "stopping":
		if !n.stopping {
			n.stopping = true
			lines = []string{"STOPPING=1"}
		}
	}
	n.mu.Unlock()
	if len(lines) > 0 {
		n.send(lines...)
	}
	switch e.Event {
	case "ready", "exited", "failed", "reloaded", "reload_aborted", "scaled":
		n.update()
	}
}

// update asks for a fresh STATUS= line without blocking the caller (events
// come from the supervisor goroutine, which Status needs).
func (n *notifier) update() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// statusLine is "web 4/4 ready, worker 2/2 ready".
func statusLine(st runner.Status) string {
	var parts []string
	for _, t := range st.Types {
		p := fmt.Sprintf("%s %d/%d ready", t.Name, t.Ready, t.Workers)
		if t.Failed {
			p += " (failed)"
		} else if t.Completed {
			p += " (completed)"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}

// run sends STATUS= lines when asked, and WATCHDOG=1 at half of
// WATCHDOG_USEC as long as the supervisor answers a status request within
// that time: a stuck supervisor stops the pings and systemd restarts us.
func (n *notifier) run(ctx context.Context, r *runner.Runner, watchdog time.Duration) {
	var tick <-chan time.Time
	if watchdog > 0 {
		t := time.NewTicker(watchdog / 2)
		defer t.Stop()
		tick = t.C
	}
	last := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.kick:
			if st, ok := statusWithin(r, 5*time.Second); ok {
				if line := statusLine(st); line != last {
					last = line
					n.send("STATUS=" + line)
				}
			}
		case <-tick:
			if _, ok := statusWithin(r, watchdog/2); ok {
				n.send("WATCHDOG=1")
			}
		}
	}
}

// statusWithin asks the supervisor for its status, giving up after d.
func statusWithin(r *runner.Runner, d time.Duration) (runner.Status, bool) {
	type answer struct {
		st  runner.Status
		err error
	}
	c := make(chan answer, 1)
	go func() {
		st, err := r.Status()
		c <- answer{st, err}
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case a := <-c:
		return a.st, a.err == nil
	case <-t.C:
		return runner.Status{}, false
	}
}

// watchdogInterval reads WATCHDOG_USEC (and WATCHDOG_PID, which must be us
// when set), as sd_watchdog_enabled does.
func watchdogInterval() (time.Duration, error) {
	v := os.Getenv("WATCHDOG_USEC")
	if v == "" {
		return 0, nil
	}
	if p := os.Getenv("WATCHDOG_PID"); p != "" && p != strconv.Itoa(os.Getpid()) {
		return 0, nil // meant for another process
	}
	us, err := strconv.ParseInt(v, 10, 64)
	if err != nil || us <= 0 {
		return 0, errors.New("WATCHDOG_USEC=" + v + ": not a positive number of microseconds")
	}
	return time.Duration(us) * time.Microsecond, nil
}

// notReady lists the types that should have workers but have no ready one
// (a one-shot type that completed has none left to be ready).
func notReady(st runner.Status) []string {
	var out []string
	for _, t := range st.Types {
		if t.Workers > 0 && t.Ready == 0 && !t.Stopped && !t.Completed {
			out = append(out, t.Name)
		}
	}
	sort.Strings(out)
	return out
}
