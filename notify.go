package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
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
//
// No caller waits for the receiver (the supervisor calls Event): messages
// go to a queue that one goroutine (write) sends from, so a receiver that
// stops reading blocks only that goroutine, and meanwhile the queue
// coalesces (see coalesce) and stays small.
type notifier struct {
	conn *net.UnixConn

	mu        sync.Mutex
	ready     bool     // READY=1 sent
	stopping  bool     // STOPPING=1 sent: nothing else is said after it
	reloading bool     // RELOADING=1 sent, its READY=1 not yet
	queue     []string // datagrams not sent yet, oldest first
	closing   bool     // close was called: write ends once the queue is empty

	wake    chan struct{} // something was queued, or close was called
	written chan struct{} // closed when write returned
	kick    chan struct{} // ask the status goroutine for a new STATUS= line
}

// newNotifier connects to $NOTIFY_SOCKET ("@name" is the abstract
// namespace) and starts the goroutine that sends; close ends it.
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
	n := &notifier{conn: c, wake: make(chan struct{}, 1), written: make(chan struct{}), kick: make(chan struct{}, 1)}
	go n.write()
	return n, nil
}

// push queues one datagram of lines; mu must be held, so that messages are
// queued in the order their state changes were decided.
func (n *notifier) push(lines ...string) {
	if n.closing {
		return
	}
	n.queue = coalesce(n.queue, strings.Join(lines, "\n")+"\n")
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *notifier) send(lines ...string) {
	n.mu.Lock()
	n.push(lines...)
	n.mu.Unlock()
}

// write sends the queued datagrams in order. Only it waits for the
// receiver; a message it could not send (no receiver) is dropped, as
// sd_notify does.
func (n *notifier) write() {
	defer close(n.written)
	for {
		n.mu.Lock()
		if len(n.queue) == 0 {
			closing := n.closing
			n.mu.Unlock()
			if closing {
				return
			}
			<-n.wake
			continue
		}
		m := n.queue[0]
		n.queue = n.queue[1:]
		n.mu.Unlock()
		n.conn.Write([]byte(m))
	}
}

// close sends what is queued (STOPPING=1 last), giving a receiver that does
// not read at most d, and closes the socket.
func (n *notifier) close(d time.Duration) {
	n.mu.Lock()
	n.closing = true
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
	n.conn.SetWriteDeadline(time.Now().Add(d)) // then each write fails at once
	<-n.written
	n.conn.Close()
}

// queueMax is the length past which coalesce folds reloads that were never
// sent into one. The queue holds at most one STATUS= and one WATCHDOG=1, so
// only a receiver that stopped reading through several reloads gets there.
const queueMax = 8

// coalesce queues m behind q. A newer STATUS= replaces one not sent yet; a
// WATCHDOG=1 joins none not sent yet (one says as much as two). READY=1,
// RELOADING=1 and STOPPING=1 keep their order and are never dropped alone:
// past queueMax, a READY=1 followed by a RELOADING=1 (one reload ended,
// the next began, neither sent) go together, so the receiver sees one
// longer reload and the same last word.
func coalesce(q []string, m string) []string {
	switch {
	case strings.HasPrefix(m, "STATUS="):
		q = slices.DeleteFunc(q, func(o string) bool { return strings.HasPrefix(o, "STATUS=") })
	case m == "WATCHDOG=1\n":
		if slices.Contains(q, m) {
			return q
		}
	}
	q = append(q, m)
	for len(q) > queueMax {
		i := slices.Index(q, "READY=1\n")
		j := -1
		for k := i + 1; i >= 0 && k < len(q); k++ {
			if isState(q[k]) {
				if strings.HasPrefix(q[k], "RELOADING=1\n") {
					j = k
				}
				break
			}
		}
		if j < 0 {
			break // nothing to fold: the queue is short of states anyway
		}
		q = slices.Delete(q, j, j+1)
		q = slices.Delete(q, i, i+1)
	}
	return q
}

// isState: READY=1, RELOADING=1 or STOPPING=1, what systemd's state follows.
func isState(m string) bool {
	return m == "READY=1\n" || m == "STOPPING=1\n" || strings.HasPrefix(m, "RELOADING=1\n")
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
	if send {
		n.push("READY=1")
	}
	n.ready = true
	n.mu.Unlock()
	if send {
		n.update()
	}
}

// Event follows the runner's events: one RELOADING=1 at the first
// "reloading" of a reload request, its READY=1 at "reload_finished" (every
// reload queued meanwhile done or aborted, a one-shot run again started),
// and the stop.
func (n *notifier) Event(e runner.Event) {
	n.mu.Lock()
	switch e.Event {
	case "reloading":
		if !n.reloading && n.ready && !n.stopping {
			n.reloading = true
			n.push("RELOADING=1", "MONOTONIC_USEC="+monotonicUsec())
		}
	case "reload_finished":
		if n.reloading && !n.stopping {
			n.reloading = false
			n.push("READY=1")
		}
	case "stopping":
		if !n.stopping {
			n.stopping = true
			n.push("STOPPING=1")
		}
	}
	n.mu.Unlock()
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
