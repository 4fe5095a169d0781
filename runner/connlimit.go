package runner

import (
	"errors"
	"net"
	"sync"
	"syscall"
)

// LimitListener returns a Listener that holds at most n accepted
// connections open at once, so clients of the control socket and of
// --metrics can never take the descriptors supervision needs for pipes,
// ptys and restarts. At the cap, Accept waits for a slot before accepting:
// further clients wait in the kernel's listen backlog, which costs the
// runner no descriptor, and are served in arrival order as the servers'
// timeouts close idle connections; a burst of legitimate clients is
// queued, not refused. Closing a returned connection frees its slot;
// closing the listener ends a waiting Accept with net.ErrClosed.
//
// The soft RLIMIT_NOFILE needs no raising here: since Go 1.19 the syscall
// package's init raises it to (nearly) the hard limit for the runner, and
// os/exec gives children the original one back.
func LimitListener(ln net.Listener, n int) net.Listener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, n), done: make(chan struct{})}
}

type limitListener struct {
	net.Listener
	slots     chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn frees its listener slot on the first Close.
type limitConn struct {
	net.Conn
	release   func()
	closeOnce sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(c.release)
	return err
}

// releaseSlot frees the listener slot before Close: the connection goes on
// outside the limit (a long-lived stream counted elsewhere).
func (c *limitConn) releaseSlot() { c.closeOnce.Do(c.release) }

// SyscallConn lets SO_PEERCRED reach the socket through the wrapper.
func (c *limitConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("connection has no file descriptor")
	}
	return sc.SyscallConn()
}

// CloseWrite keeps net/http's half-close before closing a connection.
func (c *limitConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}
