package runner

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cluster-run/cluster/procfile"
)

// readiness decides when one worker process is serving, per its type's
// `ready` (see SPEC "Readiness").
type readiness struct {
	p    *procfile.Process
	port string // the worker's own PORT, for tcp and http
	env  []string

	signal chan struct{} // one token when a log line or READY=1 arrived
	once   sync.Once
	done   chan struct{} // closed by close
	closed sync.Once

	notify  *net.UnixConn
	sockDir string
}

func newReadiness(p *procfile.Process, env []string) *readiness {
	rd := &readiness{p: p, signal: make(chan struct{}, 1), done: make(chan struct{})}
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PORT="); ok {
			rd.port = v
		}
	}
	if p.Ready.Kind == procfile.ReadyNotify {
		if err := rd.listenNotify(); err != nil {
			// Reported when waiting: the worker can never become ready.
			rd.notify = nil
		}
	}
	return rd
}

func (rd *readiness) fire() {
	rd.once.Do(func() { rd.signal <- struct{}{} })
}

// onLine is the log hook: ready = { log = "REGEX" } matches lines as the mux
// splits them, so no line is copied twice.
func (rd *readiness) onLine(line []byte) {
	if rd.p.Ready.Kind == procfile.ReadyLog && rd.p.Ready.Log != nil && rd.p.Ready.Log.Match(line) {
		rd.fire()
	}
}

// listenNotify creates the worker's private sd_notify datagram socket.
func (rd *readiness) listenNotify() error {
	dir, err := os.MkdirTemp("", "cluster-notify-")
	if err != nil {
		return err
	}
	path := filepath.Join(dir, "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		os.RemoveAll(dir)
		return err
	}
	if rd.p.User != "" {
		// The worker runs as that user: the directory (0700) and the
		// socket must be its own, or its sendto gets EACCES.
		if cred, err := credential(rd.p.User); err == nil {
			for _, f := range []string{dir, path} {
				if err := os.Chown(f, int(cred.Uid), int(cred.Gid)); err != nil {
					c.Close()
					os.RemoveAll(dir)
					return err
				}
			}
		}
	}
	rd.notify, rd.sockDir = c, dir
	rd.env = append(rd.env, "NOTIFY_SOCKET="+path)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			for _, l := range bytes.Split(buf[:n], []byte("\n")) {
				if string(l) == "READY=1" {
					rd.fire()
				}
			}
		}
	}()
	return nil
}

// wait returns a channel that receives nil once the worker is ready, or an
// error when ready.timeout passes first. Exits are the caller's business.
func (rd *readiness) wait(_ <-chan exitStatus) <-chan error {
	res := make(chan error, 1)
	r := rd.p.Ready
	if (r.Kind == procfile.ReadyStarted || r.Kind == "") && (!r.PortOrStarted || rd.port == "") {
		res <- nil
		return res
	}
	go func() {
		deadline := time.Now().Add(r.Timeout)
		timeout := time.NewTimer(r.Timeout)
		defer timeout.Stop()
		var probe <-chan time.Time
		var tick *time.Ticker
		var grace <-chan time.Time
		next := func() {} // after a failed probe
		switch r.Kind {
		case procfile.ReadyStarted, "": // PortOrStarted
			// Most such workers never listen: probe at 10, 30, 70 ms ...
			// then every 200 ms, not every 50 ms for the whole grace (12
			// connects instead of 40; 256 workers spent a quarter of the
			// runner's start-up CPU on them).
			step := 10 * time.Millisecond
			t := time.NewTimer(step)
			defer t.Stop()
			probe = t.C
			next = func() {
				step = min(2*step, portProbeMax)
				t.Reset(step)
			}
			g := time.NewTimer(min(portGrace, r.Timeout/2))
			defer g.Stop()
			grace = g.C
		case procfile.ReadyDelay:
			t := time.NewTimer(r.Delay)
			defer t.Stop()
			probe = t.C
		case procfile.ReadyTCP, procfile.ReadyHTTP:
			tick = time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			probe = tick.C
		case procfile.ReadyNotify:
			if rd.notify == nil {
				res <- fmt.Errorf("cannot create its NOTIFY_SOCKET")
				return
			}
		}
		for {
			select {
			case <-rd.done:
				return
			case <-timeout.C:
				res <- fmt.Errorf("not ready after %s (ready.%s)", r.Timeout, r.Kind)
				return
			case <-rd.signal:
				res <- nil
				return
			case <-grace: // still running: a worker that never listens is ready too
				res <- nil
				return
			case <-probe:
				// ready.timeout is a bound: a probe that blocked (a server
				// that accepts and never answers) must not win the select
				// against the timeout, nor run past it.
				left := time.Until(deadline)
				if left <= 0 {
					res <- fmt.Errorf("not ready after %s (ready.%s)", r.Timeout, r.Kind)
					return
				}
				if r.Kind == procfile.ReadyDelay || rd.probe(min(left, time.Second)) {
					res <- nil
					return
				}
				next()
			}
		}
	}()
	return res
}

// portGrace is how long a type without listen gets for its PORT to accept
// before it counts as ready anyway (it may never listen).
const portGrace = 2 * time.Second

// portProbeMax is the longest pause between two probes of such a PORT.
const portProbeMax = 200 * time.Millisecond

var probeClient = &http.Client{Timeout: time.Second, Transport: &http.Transport{
	DisableKeepAlives: true,
	// The worker's port on 127.0.0.1, or on [::1] (see dialLoopback).
	DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		return dialLoopback(ctx, port)
	},
}}

// probe tries the worker's own port once, on 127.0.0.1 or [::1], for at
// most limit.
func (rd *readiness) probe(limit time.Duration) bool {
	if rd.port == "" {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	addr := net.JoinHostPort("127.0.0.1", rd.port)
	if rd.p.Ready.Kind != procfile.ReadyHTTP {
		if port, err := strconv.Atoi(rd.port); err == nil && port > 0 && port < 65536 {
			if up, known := portAccepts(port); known {
				return up
			}
		}
		c, err := dialLoopback(ctx, rd.port)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+rd.p.Ready.HTTP, nil)
	if err != nil {
		return false
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 300
}

func (rd *readiness) close() {
	rd.closed.Do(func() {
		close(rd.done)
		if rd.notify != nil {
			rd.notify.Close()
			os.RemoveAll(rd.sockDir)
		}
	})
}
