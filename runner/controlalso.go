package runner

import (
	"errors"
	"net"
	"sync"
)

// AlsoAt makes c answer at the abstract socket name too; call it before
// Serve. A runner whose socket went to $XDG_RUNTIME_DIR (a directory only
// its environment names) is then found by the clients and runners that look
// at name last, whatever their environment: a second `cluster run` without
// that variable is refused, and `cluster stop` reaches the first. The name
// taken by a live runner of this user is ErrClusterRunning (two runners
// that started at the same moment, in two environments); held by another
// user, it is an error, and c goes on without it.
func (c *ControlServer) AlsoAt(name string) error {
	ln, err := bindAbstractName(name)
	if err != nil {
		return err
	}
	c.raw = mergeListeners(c.raw, ln)
	c.ln = LimitListener(c.raw, controlMaxConns)
	return nil
}

// multiListener accepts from several listeners as one: a goroutine per
// listener hands over what it accepts. Each may hold one connection
// accepted beyond the LimitListener above it, waiting for a slot.
type multiListener struct {
	lns   []net.Listener
	conns chan accepted
	done  chan struct{}
	once  sync.Once
}

type accepted struct {
	conn net.Conn
	err  error // a failed Accept (EMFILE): Serve pauses before the next
}

func mergeListeners(lns ...net.Listener) net.Listener {
	m := &multiListener{lns: lns, conns: make(chan accepted), done: make(chan struct{})}
	for _, ln := range lns {
		go m.accept(ln)
	}
	return m
}

func (m *multiListener) accept(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		select {
		case m.conns <- accepted{conn, err}:
		case <-m.done:
			if conn != nil {
				conn.Close()
			}
			return
		}
	}
}

func (m *multiListener) Accept() (net.Conn, error) {
	select {
	case a := <-m.conns:
		return a.conn, a.err
	case <-m.done:
		return nil, net.ErrClosed
	}
}

// Close closes every listener; a socket is closed when Close returns.
func (m *multiListener) Close() error {
	m.once.Do(func() { close(m.done) })
	var first error
	for _, ln := range m.lns {
		if err := ln.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (m *multiListener) Addr() net.Addr { return m.lns[0].Addr() }
