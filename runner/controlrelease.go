package runner

import (
	"encoding/json"
	"errors"
	"net"
)

// releasePhase is what the control socket answers with while a Procfile's
// release type runs first, on a runner of its own (main's runRelease):
// the cluster's runner has not started, and a request sent to it would wait
// for it, for as long as the release runs.
type releasePhase struct {
	rel     *Runner
	waiting []TypeStatus // the cluster's types, which start once the release exits 0
	stop    func()
	stopped bool // `cluster stop` came during the release; ControlServer.mu
}

// errReleasePhase refuses what cannot be done before the other types start.
var errReleasePhase = errors.New("the release phase is running: the other types start once release exits 0; try again then (cluster stop stops it)")

// ServeRelease makes the control socket answer for rel, the runner of a
// Procfile's release phase, until EndRelease; cluster, the runner of the
// other types, has not started (call it before cluster's Run). Meanwhile
// status shows the release's worker and the cluster's types waiting for
// it, logs prints the release's lines, stop calls stop, which must end the
// release gracefully without blocking (EndRelease then says so), and every
// other command is refused with why: nothing else has started.
func (c *ControlServer) ServeRelease(rel, cluster *Runner, stop func()) {
	ph := &releasePhase{rel: rel, stop: stop}
	for _, t := range cluster.types {
		ph.waiting = append(ph.waiting, TypeStatus{Name: t.p.Name, Workers: t.count, WaitingFor: []string{"release completed"}})
	}
	c.mu.Lock()
	c.release = ph
	c.mu.Unlock()
}

// EndRelease ends the release phase once the release exited 0: requests
// go to the cluster's runner from now on, which must start. Unless
// `cluster stop` came during it: stopped is true, and the run must end as a
// stop ends it, without starting the other types; the phase then stays, so
// that requests until the exit get the release's runner's answer (it is
// not running), not one from a runner that will never run. A run whose
// release failed does not call it, for the same reason.
func (c *ControlServer) EndRelease() (stopped bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.release != nil && c.release.stopped {
		return true
	}
	c.release = nil
	return false
}

// releasing returns the release phase in force, or nil.
func (c *ControlServer) releasing() *releasePhase {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.release
}

// answerRelease answers req during the release phase ph. It returns false,
// having answered nothing, when ph ended before it could: the cluster's
// runner answers then.
func (c *ControlServer) answerRelease(ph *releasePhase, conn net.Conn, req Request, answer *json.Encoder) bool {
	current := func() bool { return c.releasing() == ph }
	switch {
	case req.Cmd == "status":
		st, err := ph.rel.Status()
		if err != nil {
			if !current() {
				return false
			}
			answer.Encode(Response{Error: err.Error()})
			return true
		}
		st.Types = append(st.Types, ph.waiting...)
		answer.Encode(Response{OK: true, Status: &st})
	case req.Cmd == "stop" && len(req.Args) == 0:
		c.mu.Lock()
		if c.release != ph {
			c.mu.Unlock()
			return false
		}
		ph.stopped = true
		ph.stop()
		c.mu.Unlock()
		answer.Encode(Response{OK: true, Lines: []string{"stopping the cluster gracefully: the release is stopped and nothing else starts"}})
	case req.Cmd == "logs" && !req.Follow:
		c.serveLogs(ph.rel, conn, answer, req)
	default:
		if !current() {
			return false
		}
		answer.Encode(Response{Error: errReleasePhase.Error()})
	}
	return true
}
