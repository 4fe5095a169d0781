package runner

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cluster-run/cluster/procfile"
)

// ErrClusterRunning: a live runner already owns the control socket.
var ErrClusterRunning = errors.New("another cluster is running here")

// Request is one control command, sent as one JSON line.
type Request struct {
	Cmd  string   `json:"cmd"` // status, reload, restart, scale, signal, stop, start, attach, logs
	Args []string `json:"args,omitempty"`

	// logs: the last N kept lines (nil: all kept), and with Follow the new
	// ones until the client hangs up or the cluster ends. The answer is a
	// Response, then one LogLine per line; with End asked for, the Response
	// has More and the lines end with one that has End (an older client,
	// which does not ask, would print that line as an empty one).
	N      *int `json:"n,omitempty"`
	Follow bool `json:"follow,omitempty"`
	End    bool `json:"end,omitempty"`

	// Wait (reload, restart): answer when the work is done, not when it is
	// accepted. The runner then sends several lines, see Response.More.
	Wait bool `json:"wait,omitempty"`
}

// Response is the runner's one JSON line answer.
type Response struct {
	OK     bool     `json:"ok"`
	Error  string   `json:"error,omitempty"`
	Lines  []string `json:"lines,omitempty"` // what was done, for humans
	Status *Status  `json:"status,omitempty"`
	// logs: every process type of the Clusterfile, in its order (Lines are
	// the workers' labels).
	Processes []string `json:"processes,omitempty"`
	// More: not the last line. A waiting request is answered with the
	// accepted line, a heartbeat line every few seconds while the work
	// runs (Lines empty), then the last line: OK, or Error with why. A
	// logs answer: LogLines follow, the last with End.
	More bool `json:"more,omitempty"`
}

// What one control client may hold. Every request is one JSON line of a
// few hundred bytes; dispatch answers it at once, but a later command may
// stream its answer (logs -f, reload --wait): so the deadline bounds reading
// the request, and each write of the answer has its own.
const (
	controlMaxConns     = 64               // at once; more wait in the backlog (LimitListener)
	controlMaxStreams   = 512              // logs -f, attach, --wait: outside controlMaxConns, so they never lock out other commands
	controlMaxRequest   = 64 << 10         // bytes in the request line
	controlFirstBuffer  = 512              // bytes read into at first, doubled up to controlMaxRequest
	controlReadTimeout  = 5 * time.Second  // to read the whole request line
	controlWriteTimeout = 10 * time.Second // per write of the answer
	controlHeartbeat    = 5 * time.Second  // between lines to a waiting client
	controlClientIdle   = 30 * time.Second // a waiting client's limit between lines
)

// ControlServer is the unix socket `cluster status|reload|...` talk to.
type ControlServer struct {
	ln      net.Listener // at most controlMaxConns connections
	raw     net.Listener // what ln limits: the socket, or it and AlsoAt's
	path    string
	bound   os.FileInfo   // the socket file as bound: Close removes only that one
	streams chan struct{} // a slot per long-lived stream (controlMaxStreams)

	// The limits above; fields so that tests can shorten them before Serve.
	readTimeout, writeTimeout, heartbeat time.Duration
	maxRequest                           int

	// The connections being answered, for Shutdown; a mutex, as they are
	// shared by nature between Serve, their handlers and Shutdown.
	mu       sync.Mutex
	active   map[net.Conn]struct{}
	shutting bool          // Shutdown began: no new connection is answered
	drained  chan struct{} // closed when shutting and the last active one is done

	release *releasePhase // while a Procfile's release runs first (controlrelease.go); mu

	none string // NoControl: no socket (ln is nil), and why: Serve says it
}

// ListenControl creates the control socket at path with mode 0600; it is
// never reachable with wider permissions (bindPrivate). A path longer than
// the kernel binds (bindMax) is refused up front, by its length. A socket file that
// refuses connections is a stale one from a killed runner and is replaced;
// one that answers, or cannot be reached (another user's runner: EACCES; a
// busy one: a full backlog), is left alone and is an error, and so is a
// runner that binds the same path at the same moment. Runners starting at
// once check and replace a stale one in turn (a lock on the directory), so
// one cannot remove what the other just bound. A path "@NAME" is a socket
// in Linux's abstract namespace (AbstractNamespace): no file at all.
func ListenControl(path string) (*ControlServer, error) {
	if IsAbstract(path) {
		return listenAbstract(path)
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if max := bindMax(path); len(path) > max {
		return nil, fmt.Errorf("control socket path too long (%d bytes, at most %d): %s: set CLUSTER_SOCKET to a shorter path", len(path), max, path)
	}
	defer lockDir(filepath.Dir(path))()
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket == 0 {
		return nil, fmt.Errorf("control socket %s: exists and is not a socket", path)
	}
	if p, err := checkControl(path); err != nil {
		return nil, err
	} else if p == ProbeStale {
		os.Remove(path)
	}
	ln, err := bindPrivate(path)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("%w (control socket %s was bound by another process as this one started); stop it with \"cluster stop\" or set CLUSTER_SOCKET", ErrClusterRunning, path)
	}
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	bound, _ := os.Lstat(path)
	return newControlServer(ln, path, bound), nil
}

// IsAbstract: path names a socket in the abstract namespace ("@NAME").
func IsAbstract(path string) bool { return strings.HasPrefix(path, "@") }

// listenAbstract binds the abstract socket name.
func listenAbstract(name string) (*ControlServer, error) {
	ln, err := bindAbstractName(name)
	if err != nil {
		return nil, err
	}
	return newControlServer(ln, name, nil), nil
}

// bindAbstractName binds the abstract socket name. Nothing stale can hold
// a name (it goes with its socket): one taken is another runner's, refused
// as a live one, or a squatter's (another user bound our name first), not
// ours to use.
func bindAbstractName(name string) (net.Listener, error) {
	ln, err := bindAbstract(name)
	if errors.Is(err, syscall.EADDRINUSE) {
		switch p, uid, perr := ProbeControl(name); {
		case p == ProbeLive && trustedUID(uid):
			return nil, fmt.Errorf("%w (control socket %s answers); stop it with \"cluster stop\" or set CLUSTER_SOCKET", ErrClusterRunning, name)
		case p == ProbeLive:
			return nil, fmt.Errorf("control socket %s is held by uid %d, not by you (uid %d): not using it", name, uid, os.Geteuid())
		case p == ProbeBlocked:
			// A full backlog (a squatter's listen(0)): no connection, so
			// no SO_PEERCRED to say whose it is.
			return nil, fmt.Errorf("control socket %s is held by another socket that accepts no connections (%v), of unknown uid: not using it (anybody may bind an abstract name)", name, perr)
		}
		return nil, fmt.Errorf("control socket %s: %w", name, err)
	}
	if err != nil {
		return nil, err
	}
	return ln, nil
}

// CheckControl is ErrClusterRunning, saying where and whose, when a runner
// answers at path or a socket there cannot be reached (another user's,
// permission denied; a full backlog); nil when nothing is there, when the
// socket is stale, and when an abstract name is held by another user or
// by a socket that cannot be reached (one anybody may bind: never taken
// for a runner of ours unless its peer is seen to be ours). Nothing is sent.
func CheckControl(path string) error {
	_, err := checkControl(path)
	return err
}

func checkControl(path string) (Probe, error) {
	p, uid, why := ProbeControl(path)
	whose := ""
	if uid >= 0 && uid != os.Geteuid() {
		whose = fmt.Sprintf(", owned by uid %d,", uid)
	}
	switch {
	case p == ProbeLive && IsAbstract(path) && !trustedUID(uid):
		return p, nil
	case p == ProbeBlocked && IsAbstract(path):
		// Anybody may bind any abstract name, and a full backlog hides
		// whose it is (SO_PEERCRED needs a connection): only a peer seen
		// to be ours blocks a start, or any user could squat our name,
		// listen(0), fill its backlog and stop every `cluster run` here.
		return p, nil
	case p == ProbeLive && whose == "":
		return p, fmt.Errorf("%w (control socket %s answers); stop it with \"cluster stop\" or set CLUSTER_SOCKET", ErrClusterRunning, path)
	case p == ProbeLive:
		return p, fmt.Errorf("%w (control socket %s%s answers); stop that cluster or set CLUSTER_SOCKET", ErrClusterRunning, path, whose)
	case p == ProbeBlocked:
		return p, fmt.Errorf("%w (control socket %s%s exists and cannot be reached: %v; only a socket that refuses connections is replaced); stop that cluster or set CLUSTER_SOCKET", ErrClusterRunning, path, whose, why)
	}
	return p, nil
}

// trustedUID: a socket held by this user or root may be talked to.
func trustedUID(uid int) bool { return uid == 0 || uid == os.Geteuid() }

func newControlServer(ln net.Listener, path string, bound os.FileInfo) *ControlServer {
	return &ControlServer{
		ln:           LimitListener(ln, controlMaxConns),
		raw:          ln,
		path:         path,
		bound:        bound,
		streams:      make(chan struct{}, controlMaxStreams),
		readTimeout:  controlReadTimeout,
		writeTimeout: controlWriteTimeout,
		heartbeat:    controlHeartbeat,
		maxRequest:   controlMaxRequest,
		active:       map[net.Conn]struct{}{},
		drained:      make(chan struct{}),
	}
}

// NoControl is the ControlServer of a cluster that found no place for a
// socket: why, with what to do about it, is said once in the cluster's
// output by Serve; no client reaches this cluster, which runs all the same
// (a read-only root file system never stops cluster run).
func NoControl(why string) *ControlServer {
	return &ControlServer{none: why, active: map[net.Conn]struct{}{}, drained: make(chan struct{})}
}

// Path is the socket file ("@NAME": an abstract socket; "": none).
func (c *ControlServer) Path() string { return c.path }

// Close stops serving and removes the socket file, if it is still the one
// it bound (not one another runner put there since).
func (c *ControlServer) Close() error {
	if c.ln == nil {
		return nil
	}
	err := c.ln.Close()
	if fi, e := os.Lstat(c.path); e == nil && c.bound != nil && os.SameFile(fi, c.bound) {
		os.Remove(c.path)
	}
	return err
}

// Shutdown stops accepting connections and removes the socket file, as
// Close does, then gives the requests being answered up to grace to finish
// (http.Server's Shutdown): the runner has usually ended by then, and the
// answer to the `cluster stop` that ended it must still reach its client,
// not an EOF. Connections still open after grace are closed.
func (c *ControlServer) Shutdown(grace time.Duration) error {
	c.mu.Lock()
	c.shutting = true
	busy := len(c.active) > 0
	c.mu.Unlock()
	err := c.Close()
	if busy {
		t := time.NewTimer(grace)
		select {
		case <-c.drained:
		case <-t.C:
		}
		t.Stop()
	}
	c.mu.Lock()
	for conn := range c.active {
		conn.Close()
	}
	c.mu.Unlock()
	return err
}

// track registers a connection to answer; false once Shutdown began.
func (c *ControlServer) track(conn net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shutting {
		return false
	}
	c.active[conn] = struct{}{}
	return true
}

func (c *ControlServer) untrack(conn net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.active, conn)
	if c.shutting && len(c.active) == 0 {
		close(c.drained) // once: none is added after shutting
	}
}

// lockDir takes an exclusive flock on dir and returns its release; a
// directory that cannot be locked (some network file systems) is not.
func lockDir(dir string) (unlock func()) {
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return func() {}
	}
	for {
		if err = syscall.Flock(fd, syscall.LOCK_EX); err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		syscall.Close(fd)
		return func() {}
	}
	return func() { syscall.Close(fd) } // closing the last descriptor releases the lock
}

// Serve answers requests for r until Close.
func (c *ControlServer) Serve(r *Runner) {
	if c.ln == nil {
		r.event("", "log", c.none, 0, nil)
		return
	}
	var pause time.Duration // after a failed accept (EMFILE): no busy loop
	for {
		conn, err := c.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			time.Sleep(pause)
			continue
		}
		pause = 0
		if !c.track(conn) {
			conn.Close()
			continue
		}
		go func() {
			defer c.untrack(conn)
			c.handle(r, conn)
		}()
	}
}

// stream moves conn from the connection limit to the limit of long-lived
// streams (logs -f, attach, reload --wait): 64 followers must not lock out
// `cluster status` or `cluster stop`. done gives the stream's slot back;
// ok is false when every stream slot is taken.
func (c *ControlServer) stream(conn net.Conn) (done func(), ok bool) {
	select {
	case c.streams <- struct{}{}:
	default:
		return nil, false
	}
	if lc, isLimited := conn.(*limitConn); isLimited {
		lc.releaseSlot()
	}
	return func() { <-c.streams }, true
}

// errTooManyStreams answers a stream over controlMaxStreams.
var errTooManyStreams = fmt.Sprintf("too many clients following logs, attached or waiting (%d): close some and try again", controlMaxStreams)

// peerAllowed checks the peer's credentials (peerUID, sys_*.go): the
// runner's own user, or root.
func peerAllowed(conn net.Conn) (uid int, ok bool) {
	peer := connPeerUID(conn)
	return peer, peer >= 0 && trustedUID(peer)
}

// connPeerUID is the uid of conn's other end: of the client for the
// runner, of the runner for a client. -1 when it cannot be read.
func connPeerUID(conn net.Conn) int {
	sc, isSock := conn.(syscall.Conn)
	if !isSock {
		return -1
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	peer, cerr := -1, error(nil)
	raw.Control(func(fd uintptr) { peer, cerr = peerUID(int(fd)) })
	if cerr != nil {
		return -1
	}
	return peer
}

func (c *ControlServer) handle(r *Runner, conn net.Conn) {
	defer conn.Close()
	answer := json.NewEncoder(deadlineWriter{conn, c.writeTimeout})
	if uid, ok := peerAllowed(conn); !ok {
		r.event("", "control_refused", fmt.Sprintf("refused a control connection from uid %d (only uid %d and root may control this cluster)", uid, os.Geteuid()), 0, nil)
		answer.Encode(Response{Error: "permission denied: not the cluster's user"})
		return
	}
	conn.SetReadDeadline(time.Now().Add(c.readTimeout))
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 0, min(controlFirstBuffer, c.maxRequest)), c.maxRequest)
	if !sc.Scan() {
		if errors.Is(sc.Err(), bufio.ErrTooLong) {
			answer.Encode(Response{Error: fmt.Sprintf("bad request: longer than %d bytes", c.maxRequest)})
		}
		return // silent, timed out or gone: nobody to answer
	}
	var req Request
	var resp Response
	var w *Wait
	err := json.Unmarshal(sc.Bytes(), &req)
	if ph := c.releasing(); err == nil && ph != nil && c.answerRelease(ph, conn, req, answer) {
		return
	}
	if err != nil {
		resp.Error = "bad request: " + err.Error()
	} else if req.Cmd == "attach" {
		c.attach(r, conn, req, answer)
		return
	} else if req.Cmd == "logs" {
		c.serveLogs(r, conn, answer, req)
		return
	} else {
		resp, w = r.dispatch(req)
	}
	if w == nil {
		answer.Encode(resp)
		return
	}
	resp.More = true
	if done, ok := c.stream(conn); ok { // else the wait keeps its connection slot
		defer done()
	}
	if answer.Encode(resp) == nil {
		c.follow(conn, answer, req.Cmd, w)
	}
}

// follow answers a waiting request when its Wait ends, with a heartbeat
// line meanwhile so that the client can tell a long reload from a runner
// that hangs; a client that closes its end stops the wait (not the reload).
func (c *ControlServer) follow(conn net.Conn, answer *json.Encoder, cmd string, w *Wait) {
	conn.SetReadDeadline(time.Time{}) // the request was read: from now on a read only sees the client leave
	left := make(chan struct{})
	go func() {
		io.Copy(io.Discard, conn) // ends when the client closes, or handle closes conn
		close(left)
	}()
	result := make(chan error, 1)
	go func() { result <- w.Result(left) }()
	beat := time.NewTicker(c.heartbeat)
	defer beat.Stop()
	for {
		select {
		case err := <-result:
			select {
			case <-left:
				return // nobody to tell
			default:
			}
			if err != nil {
				answer.Encode(Response{Error: err.Error()})
			} else {
				answer.Encode(Response{OK: true, Lines: []string{cmd + " finished: every worker it replaced or started is ready"}})
			}
			return
		case <-beat.C:
			if answer.Encode(Response{More: true}) != nil {
				return
			}
		}
	}
}

// attach answers, then connects conn to the worker's terminal (attach.go).
// The client sends nothing after its request until it has the answer, so
// the scanner holds no frame.
func (c *ControlServer) attach(r *Runner, conn net.Conn, req Request, answer *json.Encoder) {
	if len(req.Args) != 1 {
		answer.Encode(Response{Error: "attach needs PROCESS.N"})
		return
	}
	term, err := r.Attach(req.Args[0])
	if err != nil {
		answer.Encode(Response{Error: err.Error()})
		return
	}
	done, ok := c.stream(conn)
	if !ok {
		answer.Encode(Response{Error: errTooManyStreams})
		return
	}
	defer done()
	if answer.Encode(Response{OK: true, Lines: []string{fmt.Sprintf("attached to %s (pid %d)", term.Name, term.PID)}}) != nil {
		return
	}
	conn.SetReadDeadline(time.Time{}) // typing may pause for as long as it likes
	r.event(term.Name, "attached", fmt.Sprintf("a client attached to %s's terminal", term.Name), term.PID, nil)
	term.Serve(conn, c.writeTimeout)
	r.event(term.Name, "detached", fmt.Sprintf("a client detached from %s's terminal", term.Name), term.PID, nil)
}

// serveLogs answers `cluster logs`: the kept lines, then with Follow every
// new line until the client hangs up or the runner ends, then a last line
// that says the answer is complete (LogLine.End). While the runner runs,
// the writes have no deadline and a following connection no idle timeout:
// a reader paused in a pager gets every kept line when it reads on (the
// history is bounded), and a follower falls behind and is told how many
// lines it missed, it is not cut; a client that hangs up is noticed at
// once. Once the runner ends, what is left must be written within the
// usual deadline (and Shutdown's grace).
func (c *ControlServer) serveLogs(r *Runner, conn net.Conn, answer *json.Encoder, req Request) {
	feed, err := r.OpenLogs(req.Args, req.Follow)
	if err != nil {
		answer.Encode(Response{Error: err.Error()})
		return
	}
	defer feed.Close()
	// A stream slot, so that readers in pagers do not lock out other
	// commands; one that finds none keeps its connection slot, unless it
	// follows (a follower may stay for hours).
	if done, ok := c.stream(conn); ok {
		defer done()
	} else {
		// Every stream slot is taken: one more reader, even without -f,
		// could wait on its client for good and hold a connection slot.
		answer.Encode(Response{Error: errTooManyStreams})
		return
	}
	// More: the lines end with an End line (a client may tell a complete
	// answer from one cut off), for a client that asks for it.
	if answer.Encode(Response{OK: true, Lines: feed.Labels, Processes: feed.Processes, More: req.End}) != nil {
		return
	}
	n := -1
	if req.N != nil {
		n = max(*req.N, 0)
	}
	conn.SetWriteDeadline(time.Time{})
	served := make(chan struct{})
	defer close(served)
	go func() {
		select {
		case <-served:
		case <-r.finished:
			conn.SetWriteDeadline(time.Now().Add(c.writeTimeout))
		}
	}()
	bw := bufio.NewWriterSize(conn, 32<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	send := func(lines []LogLine) error {
		for _, l := range lines {
			if err := enc.Encode(l); err != nil {
				return err
			}
		}
		return bw.Flush()
	}
	if send(feed.History(n)) != nil {
		return
	}
	end := func() {
		if req.End {
			send([]LogLine{{End: true}})
		}
	}
	if !req.Follow {
		end()
		return
	}
	gone := make(chan struct{})
	conn.SetReadDeadline(time.Time{})
	go func() {
		io.Copy(io.Discard, conn) // ends when the client hangs up, or at our Close
		close(gone)
	}()
	for {
		lines, err := feed.Next(gone)
		if errors.Is(err, io.EOF) {
			end() // the runner ended and every line was sent
			return
		}
		if err != nil || send(lines) != nil {
			return
		}
	}
}

// deadlineWriter gives each write its own deadline: a client that stops
// reading is dropped, a long answer streamed in many writes is not cut.
type deadlineWriter struct {
	conn    net.Conn
	timeout time.Duration
}

func (w deadlineWriter) Write(p []byte) (int, error) {
	w.conn.SetWriteDeadline(time.Now().Add(w.timeout))
	return w.conn.Write(p)
}

// dispatch answers req; for a waiting reload or restart it also returns
// the Wait to follow (nil otherwise).
func (r *Runner) dispatch(req Request) (Response, *Wait) {
	resp, w := r.dispatchWait(req)
	if !resp.OK || !req.Wait {
		w = nil
	}
	return resp, w
}

func (r *Runner) dispatchWait(req Request) (Response, *Wait) {
	fail := func(err error) (Response, *Wait) { return Response{Error: err.Error()}, nil }
	switch req.Cmd {
	case "status":
		st, err := r.Status()
		if err != nil {
			return fail(err)
		}
		return Response{OK: true, Status: &st}, nil
	case "reload":
		d, w, err := r.reloadConfig(req.Args, len(req.Args) == 0, req.Wait)
		if err != nil {
			return fail(err)
		}
		var lines []string
		if r.opts.Reread != nil {
			lines = append(lines, d.String())
			for _, x := range d.Restart {
				lines = append(lines, x+" changed: restart the cluster to apply")
			}
		}
		// A stopped type named without --wait gets the reason --wait gets,
		// and the same exit status: nothing of it is reloaded.
		var stopped []string
		if !req.Wait {
			stopped = r.StoppedTypes(req.Args...)
		}
		names := slices.DeleteFunc(slices.Clone(req.Args), func(n string) bool { return slices.Contains(stopped, n) })
		what := "every process type"
		if len(req.Args) > 0 {
			what = strings.Join(names, ", ")
		}
		if what != "" {
			lines = append(lines, "rolling reload of "+what+" started")
		}
		if len(stopped) > 0 {
			why := make([]string, len(stopped))
			for i, n := range stopped {
				why[i] = StoppedReason(n)
			}
			return Response{Error: strings.Join(why, "; "), Lines: lines}, nil
		}
		return Response{OK: true, Lines: lines}, w
	case "restart":
		if len(req.Args) == 0 {
			return fail(errors.New("restart needs PROCESS or PROCESS.N"))
		}
		did, w, err := r.restart(req.Args, req.Wait)
		if err != nil {
			return fail(err)
		}
		return Response{OK: true, Lines: []string{"restarting " + strings.Join(did, ", ") + " (one at a time, each replacement ready first)"}}, w
	case "scale":
		if len(req.Args) == 0 {
			return fail(errors.New("scale needs PROCESS=N"))
		}
		counts := make([]Count, len(req.Args))
		for i, a := range req.Args {
			name, nStr, ok := strings.Cut(a, "=")
			n, err := strconv.Atoi(nStr)
			if !ok || err != nil {
				return fail(fmt.Errorf("%q is not PROCESS=N", a))
			}
			counts[i] = Count{Name: name, N: n}
		}
		from, err := r.ScaleAll(counts)
		if err != nil {
			return fail(err)
		}
		lines := make([]string, len(counts))
		for i, c := range counts {
			lines[i] = fmt.Sprintf("%s: %d -> %s", c.Name, from[i], plural(c.N, "worker"))
		}
		return Response{OK: true, Lines: lines}, nil
	case "signal":
		if len(req.Args) != 2 {
			return fail(errors.New("signal needs PROCESS[.N] SIGNAL"))
		}
		sig, err := ParseSignal(req.Args[1])
		if err != nil {
			return fail(err)
		}
		did, err := r.Signal(req.Args[0], sig)
		if err != nil {
			return fail(err)
		}
		return Response{OK: true, Lines: []string{"sent " + SignalName(sig) + " to " + strings.Join(did, ", ")}}, nil
	case "stop":
		if len(req.Args) > 0 {
			did, err := r.StopTypes(req.Args...)
			if err != nil {
				return fail(err)
			}
			return Response{OK: true, Lines: []string{"stopping " + strings.Join(did, ", ") + " gracefully; the rest keeps running and the sockets stay bound"}}, nil
		}
		if cmd := r.stopCommand(); cmd != "" {
			return Response{OK: true, Lines: []string{"stopping " + cmd + " (the -- COMMAND), then the cluster"}}, nil
		}
		if err := r.Stop(); err != nil {
			return fail(err)
		}
		return Response{OK: true, Lines: []string{"stopping the cluster gracefully"}}, nil
	case "start":
		did, err := r.StartTypes(req.Args...)
		if err != nil {
			return fail(err)
		}
		return Response{OK: true, Lines: []string{"starting " + strings.Join(did, ", ")}}, nil
	}
	return fail(fmt.Errorf("unknown command %q", req.Cmd))
}

// ParseSignal accepts "USR2", "SIGUSR2", "usr2" or a number, as the
// Clusterfile's stop_signal does.
func ParseSignal(s string) (syscall.Signal, error) { return procfile.ParseSignal(s) }

// DialControl connects to the control socket at path; a socket nobody
// answers on is ErrNotRunning. Every client (Call, CallWait, CallLogs,
// cluster attach) dials through it. An abstract socket has no owner to
// check before dialing: it is talked to only when held by this user or root.
func DialControl(path string) (net.Conn, error) {
	conn, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w (no control socket answers at %s)", ErrNotRunning, path)
		}
		return nil, err
	}
	if IsAbstract(path) {
		if uid := connPeerUID(conn); !trustedUID(uid) {
			conn.Close()
			return nil, fmt.Errorf("control socket %s is held by uid %d, not by you (uid %d): not trusting it", path, uid, os.Geteuid())
		}
	}
	return conn, nil
}

// Probe is what is at a place the control socket may live.
type Probe int

const (
	ProbeAbsent  Probe = iota // nothing there
	ProbeStale                // a socket file nobody listens on: left by a killed runner
	ProbeLive                 // a runner answers
	ProbeBlocked              // a socket that cannot be reached (another user's: permission denied; a full backlog)
)

// ProbeControl dials the control socket at path, hangs up at once and says
// what is there; nothing is sent. uid owns the socket file, or holds the
// abstract socket (-1 when there is none); err says why a ProbeBlocked one
// cannot be reached.
func ProbeControl(path string) (p Probe, uid int, err error) {
	uid = -1
	if IsAbstract(path) {
		return probeAbstract(path)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return ProbeAbsent, uid, nil
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		uid = int(st.Uid)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	switch {
	case err == nil:
		c.Close()
		return ProbeLive, uid, nil
	case errors.Is(err, syscall.ECONNREFUSED):
		return ProbeStale, uid, nil
	case errors.Is(err, syscall.ENOENT):
		return ProbeAbsent, uid, nil
	}
	if errno := syscall.Errno(0); errors.As(err, &errno) {
		err = errno
	}
	return ProbeBlocked, uid, err
}

// ErrWaitTimeout: CallWait's timeout passed before the work was done; the
// work goes on in the cluster.
var ErrWaitTimeout = errors.New("timed out waiting")

// CallWait sends a reload or restart with Wait set and returns the last
// answer line, once the work is done or aborted. accepted gets the first
// line (what was started) as soon as it arrives. timeout 0: no limit but
// the runner's heartbeat: a runner silent for controlClientIdle is an error.
func CallWait(path string, req Request, timeout time.Duration, accepted func(Response)) (Response, error) {
	conn, err := DialControl(path)
	if err != nil {
		return Response{}, err
	}
	defer conn.Close()
	req.Wait = true
	var end time.Time
	if timeout > 0 {
		end = time.Now().Add(timeout)
	}
	conn.SetWriteDeadline(time.Now().Add(controlWriteTimeout))
	werr := json.NewEncoder(conn).Encode(req)
	dec := json.NewDecoder(conn)
	for first := true; ; first = false {
		d := time.Now().Add(controlClientIdle)
		if !end.IsZero() && end.Before(d) {
			d = end
		}
		conn.SetReadDeadline(d)
		var resp Response
		if err := dec.Decode(&resp); err != nil {
			switch {
			case first && werr != nil:
				return Response{}, werr
			case !end.IsZero() && !time.Now().Before(end):
				return Response{}, fmt.Errorf("%w after %s; the work goes on in the cluster", ErrWaitTimeout, timeout)
			case errors.Is(err, os.ErrDeadlineExceeded):
				return Response{}, fmt.Errorf("control socket %s: no word from the cluster for %s", path, controlClientIdle)
			case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET):
				return Response{}, fmt.Errorf("%w: the cluster went away before the work was done", ErrNotRunning)
			}
			return Response{}, fmt.Errorf("control socket %s: %w", path, err)
		}
		if !resp.More {
			return resp, nil
		}
		if first && accepted != nil {
			accepted(resp)
		}
	}
}

// Call sends one request to the cluster whose control socket is path.
func Call(path string, req Request) (Response, error) {
	conn, err := DialControl(path)
	if err != nil {
		return Response{}, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	// A refused peer is answered before its request is read: a failed write
	// still leaves that answer to read.
	werr := json.NewEncoder(conn).Encode(req)
	var resp Response
	if err := json.NewDecoder(conn).Decode(&resp); err != nil {
		if werr != nil {
			return Response{}, werr
		}
		return Response{}, fmt.Errorf("control socket %s: %w", path, err)
	}
	return resp, nil
}

// ErrLogsCut: the answer to a logs request ended before its last line:
// the cluster stopped (or was killed) while lines were still to be sent
// to a reader that was behind.
var ErrLogsCut = errors.New("cut off: the cluster stopped before this reader had read every line")

// CallLogs sends a logs request and calls each for every line of the
// answer, until the cluster has sent them all (or, following, has ended)
// or stop is closed, which are not errors, or each fails (its error). An
// answer that ends before its last line is ErrLogsCut.
// The cluster's first answer (its Lines: the labels of every worker) goes
// to start.
func CallLogs(path string, req Request, stop <-chan struct{}, start func(Response), each func(LogLine) error) error {
	conn, err := DialControl(path)
	if err != nil {
		return err
	}
	defer conn.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-stop:
			conn.Close()
		case <-done:
		}
	}()
	conn.SetDeadline(time.Now().Add(time.Minute))
	req.End = true
	werr := json.NewEncoder(conn).Encode(req)
	dec := json.NewDecoder(bufio.NewReaderSize(conn, 32<<10))
	var resp Response
	if err := dec.Decode(&resp); err != nil {
		if werr != nil {
			return werr
		}
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	if !resp.OK {
		return &RefusedError{resp.Error}
	}
	if start != nil {
		start(resp)
	}
	conn.SetDeadline(time.Time{}) // lines may be minutes apart
	for {
		var l LogLine
		if err := dec.Decode(&l); err != nil {
			select {
			case <-stop:
				return nil
			default:
			}
			switch {
			case errors.Is(err, io.EOF) && !resp.More:
				return nil // a runner that sends no End line
			case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
				return ErrLogsCut
			}
			return fmt.Errorf("%w (control socket %s: %v)", ErrLogsCut, path, err)
		}
		if l.End {
			return nil
		}
		if err := each(l); err != nil {
			return err
		}
	}
}

// RefusedError is the cluster's answer to a request it refused.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return e.Reason }
