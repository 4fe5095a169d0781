package runner

import (
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// proxyWait bounds how long an accepted connection waits for a ready worker
// (all of them restarting) before it is closed.
const proxyWait = 30 * time.Second

// backend is one ready worker of a proxy-mode type.
type backend struct {
	name string
	addr string // 127.0.0.1:PORT
	open atomic.Int64
	// waiting counts connections that reached the worker but got no byte back
	// yet: they may sit unaccepted in its private backlog, which the kernel
	// resets when the worker closes its listener. A drained worker is
	// signalled only once this is 0.
	waiting atomic.Int64
}

// settle waits until no connection of b is waiting for its first answer,
// or until stop fires or kill closes.
func (b *backend) settle(stop <-chan time.Time, kill <-chan struct{}) {
	for b.waiting.Load() > 0 {
		select {
		case <-stop:
			return
		case <-kill:
			return
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// pool is the set of workers a proxy-mode type forwards to. It is shared by
// nature (accept goroutines read it, slots add and drain themselves), hence
// the mutex.
type pool struct {
	mu       sync.Mutex
	backends []*backend
	next     int
	changed  chan struct{} // closed and replaced at every change
}

func newPool() *pool { return &pool{changed: make(chan struct{})} }

func (p *pool) notify() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *pool) add(b *backend) {
	p.mu.Lock()
	p.backends = append(p.backends, b)
	p.notify()
	p.mu.Unlock()
}

// drain removes b: it gets no new connection; its open ones go on.
func (p *pool) drain(b *backend) {
	p.mu.Lock()
	for i, x := range p.backends {
		if x == b {
			p.backends = append(p.backends[:i], p.backends[i+1:]...)
			break
		}
	}
	p.notify()
	p.mu.Unlock()
}

// pick returns the backend with the fewest open connections, round-robin
// among equals, skipping those in tried; or a channel closed at the next
// change when there is none. The connection is counted as open and waiting
// on the backend here, under the lock drain takes: a worker drained after
// this pick is not signalled (settle) while the connection is still being
// dialled to it.
func (p *pool) pick(tried map[*backend]bool) (*backend, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.backends)
	var best *backend
	for i := 0; i < n; i++ {
		b := p.backends[(p.next+i)%n]
		if tried[b] {
			continue
		}
		if best == nil || b.open.Load() < best.open.Load() {
			best = b
		}
	}
	if best == nil {
		return nil, p.changed
	}
	p.next++
	best.open.Add(1)
	best.waiting.Add(1)
	return best, nil
}

// serveProxy accepts on a shared socket and forwards each connection to a
// ready worker until the listener is closed.
func (r *Runner) serveProxy(ln net.Listener, p *pool) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			time.Sleep(10 * time.Millisecond) // EMFILE and friends: do not spin
			continue
		}
		go r.forward(c, p)
	}
}

func (r *Runner) forward(c net.Conn, p *pool) {
	defer c.Close()
	tried := map[*backend]bool{}
	deadline := time.NewTimer(proxyWait)
	defer deadline.Stop()
	for {
		b, wait := p.pick(tried)
		if b == nil {
			if len(tried) > 0 {
				clear(tried) // every ready worker refused: wait for a change, then retry them all
			}
			select {
			case <-wait:
				continue
			case <-deadline.C:
				return
			case <-r.loopDone:
				return
			}
		}
		// Nothing has been read from the client yet, so a refused connect is
		// safe to retry on another worker.
		bc, err := net.DialTimeout("tcp", b.addr, 5*time.Second)
		if err != nil {
			b.waiting.Add(-1)
			b.open.Add(-1)
			tried[b] = true
			continue
		}
		splice(c, bc, &b.waiting)
		b.open.Add(-1)
		return
	}
}

// splice copies both ways; io.Copy between *net.TCPConn uses splice(2) on
// Linux. Each direction's EOF is passed on as a half-close. waiting is
// decremented once the backend b sent its first bytes (or closed).
func splice(a, b net.Conn, waiting *atomic.Int64) {
	done := make(chan struct{})
	go func() {
		io.Copy(b, a)
		closeWrite(b)
		close(done)
	}()
	var first [4096]byte
	n, err := b.Read(first[:])
	waiting.Add(-1)
	if n > 0 {
		_, err = a.Write(first[:n])
	}
	if err == nil {
		io.Copy(a, b)
	}
	closeWrite(a)
	<-done
	b.Close()
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	} else {
		c.Close()
	}
}

// ports hands out private loopback ports to proxy-mode workers, never one
// that a live worker of this runner still holds.
type ports struct {
	mu   sync.Mutex
	used map[int]bool
}

func (ps *ports) get() (int, error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.used == nil {
		ps.used = map[int]bool{}
	}
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !ps.used[port] {
			ps.used[port] = true
			return port, nil
		}
	}
	return 0, errors.New("no free loopback port")
}

func (ps *ports) put(port int) {
	ps.mu.Lock()
	delete(ps.used, port)
	ps.mu.Unlock()
}

// proxyListener makes a net.Listener for the runner's own accept loop on a
// proxy-mode socket (no worker inherits it, so its flags are ours).
func proxyListener(l *Listener) (net.Listener, error) {
	// A dup of our fd: an *os.File closes its fd when collected, and the
	// Listener keeps owning the original.
	fd, err := unix.FcntlInt(uintptr(l.FD()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "listener")
	defer f.Close()
	return net.FileListener(f)
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
