package runner

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// proxyPending bounds the connections one proxy-mode socket has accepted
// that are not yet connected to a worker: past it, as while no worker is
// ready at all, new ones wait in the socket's queue (the kernel's backlog),
// which costs the runner nothing.
const proxyPending = 1024

// settleMax bounds the wait, before a proxy-mode worker's stop_signal, for
// the requests already sent to it to be answered (see backend.settle).
const settleMax = time.Second

// proxyGiveUp bounds how long a connection waits for a worker to take it
// while some are ready (they refuse it, time out, reset it): past it, the
// connection is closed and its place freed for another. Time with no worker
// ready at all (a slow start, scaled to 0) does not count. Runner.giveUp
// replaces it in the tests.
const proxyGiveUp = 30 * time.Second

// proxyRetryMin and proxyRetryMax bound the pause before the ready workers
// that all failed a connection are tried again (doubling from the first).
const (
	proxyRetryMin = 50 * time.Millisecond
	proxyRetryMax = time.Second
)

// backend is one ready worker of a proxy-mode type.
type backend struct {
	name string
	port string // its private port, on 127.0.0.1 or [::1] (see dialLoopback)
	open atomic.Int64
	out  atomic.Bool // drained: it gets no new connection
	// waiting counts requests sent to the worker that got no byte back
	// yet: they may sit unaccepted in its private backlog, which the kernel
	// resets when the worker closes its listener. A connection on which
	// the client sent nothing is not counted: it can still move to another
	// worker (see forward).
	waiting atomic.Int64

	mu      sync.Mutex
	closing bool          // settled: its stop_signal is sent, no request goes to it any more
	idle    chan struct{} // closed when waiting drops to 0 while settle waits
}

// send counts a request about to be sent to the worker; false once the
// worker is being stopped: the connection goes to another one then.
func (b *backend) send() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closing {
		return false
	}
	b.waiting.Add(1)
	return true
}

// answered is called once a counted request got its first byte back (or
// its connection ended).
func (b *backend) answered() {
	b.mu.Lock()
	if b.waiting.Add(-1) == 0 && b.idle != nil {
		close(b.idle)
		b.idle = nil
	}
	b.mu.Unlock()
}

// settle waits, before a drained worker's stop_signal, until every request
// sent to it has its first byte back, for at most max or until kill closes,
// so that none is reset unread in its backlog. From then on nothing more is
// sent to it.
func (b *backend) settle(max time.Duration, kill <-chan struct{}) {
	t := time.NewTimer(max)
	defer t.Stop()
	for {
		b.mu.Lock()
		if b.waiting.Load() == 0 {
			b.closing = true // under the lock send takes: nothing is sent after this
			b.mu.Unlock()
			return
		}
		if b.idle == nil {
			b.idle = make(chan struct{})
		}
		idle := b.idle
		b.mu.Unlock()
		select {
		case <-idle:
			continue
		case <-t.C:
		case <-kill:
		}
		b.mu.Lock()
		b.closing = true
		b.mu.Unlock()
		return
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
	b.out.Store(true)
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
// change when there is none, and whether no worker is ready at all. The
// connection is counted as open here.
func (p *pool) pick(tried map[*backend]bool) (*backend, <-chan struct{}, bool) {
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
		return nil, p.changed, n == 0
	}
	p.next++
	best.open.Add(1)
	return best, nil, false
}

// state reports whether no worker is ready, and a channel closed at the
// next change.
func (p *pool) state() (empty bool, changed <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.backends) == 0, p.changed
}

// serveProxy accepts on a shared socket and forwards each connection to a
// ready worker until quit closes (with the listener); gone closes when the
// type is removed. It accepts only
// while some worker is ready and fewer than proxyPending connections wait
// for one: the others wait in the socket's queue, as in inherit mode, for
// as long as it takes (a slow start, every worker restarting, scaled to 0).
func (r *Runner) serveProxy(ln net.Listener, p *pool, gone, quit <-chan struct{}) {
	// An Accept already waiting when the last worker goes is woken by a
	// deadline in the past, so that it does not take one connection more.
	dl, _ := ln.(interface{ SetDeadline(time.Time) error })
	var expired atomic.Bool // a past deadline may be set: clear it before the next Accept
	if dl != nil {
		var wg sync.WaitGroup
		defer wg.Wait()
		wg.Go(func() {
			for {
				empty, changed := p.state()
				if empty {
					dl.SetDeadline(time.Unix(1, 0))
					expired.Store(true) // after the deadline: see the Swap below
				}
				select {
				case <-changed:
				case <-quit:
					return
				}
			}
		})
	}
	pending := make(chan struct{}, proxyPending)
	for {
		if expired.Swap(false) {
			dl.SetDeadline(time.Time{})
		}
		for {
			empty, changed := p.state()
			if !empty {
				break
			}
			select {
			case <-changed:
			case <-quit:
				return
			}
		}
		select {
		case pending <- struct{}{}:
		case <-quit:
			return
		}
		c, err := ln.Accept()
		if err != nil {
			<-pending
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
		go r.forward(c, p, gone, sync.OnceFunc(func() { <-pending }))
	}
}

// forward carries one client connection to a ready worker. Until the
// client's first bytes are sent to a worker (they are held meanwhile)
// nothing was exchanged, so the connection moves on to another worker when
// one refuses it, resets it unaccepted (its listener closed), closes it
// while it stops, or is being stopped when those bytes arrive.
// placed is called once the connection reached a worker (or ended).
func (r *Runner) forward(c net.Conn, p *pool, gone <-chan struct{}, placed func()) {
	defer c.Close()
	defer placed()
	req := make(chan chunk, 1)
	go readChunk(c, req)
	var first *chunk // the client's first read, once it is in
	w := &waiting{tried: map[*backend]bool{}, pause: proxyRetryMin, giveUp: proxyGiveUp}
	if r.giveUp > 0 {
		w.giveUp = r.giveUp
	}
	tried := w.tried
	for {
		b, bc := r.connect(p, w, gone, req, &first)
		if b == nil {
			return
		}
		placed()
		ans := make(chan chunk, 1)
		go readChunk(bc, ans)
		if first == nil {
			select {
			case a := <-ans: // the worker spoke first (a greeting), or closed
				if len(a.b) == 0 {
					bc.Close()
					b.open.Add(-1)
					if a.err != io.EOF || b.out.Load() {
						tried[b] = true
						continue
					}
					return // the app closed it: so does the client's
				}
				splice(c, bc, req, have(a), nil)
				b.open.Add(-1)
				return
			case ch := <-req:
				first = &ch
			}
		}
		if len(first.b) == 0 && first.err != io.EOF {
			bc.Close()
			b.open.Add(-1)
			return // the client is gone
		}
		if !b.send() {
			bc.Close()
			b.open.Add(-1)
			tried[b] = true
			continue
		}
		splice(c, bc, have(*first), ans, b.answered)
		b.open.Add(-1)
		return
	}
}

// waiting is what one connection's attempts to reach a worker share.
type waiting struct {
	tried  map[*backend]bool // the ready workers that failed it since the last retry
	spent  time.Duration     // waited with some worker ready, none taking it
	pause  time.Duration     // before the next retry of those that failed
	giveUp time.Duration     // proxyGiveUp
}

// connect picks a ready worker and connects to it, waiting while there is
// none; nil when the cluster stops, the type is removed, the client leaves
// meanwhile, or no ready worker took it within proxyGiveUp. When every ready
// worker failed it they are tried again after a pause (50 ms, doubling to
// 1 s), or at the next change. While it waits, the client's first read
// (from req, until *first is set) is watched: nothing but an end or an
// error means the client left; bytes are kept in *first for the worker.
func (r *Runner) connect(p *pool, w *waiting, gone <-chan struct{}, req <-chan chunk, first **chunk) (*backend, net.Conn) {
	if *first != nil {
		req = nil
	}
	tried := w.tried
	for {
		b, wait, empty := p.pick(tried)
		if b == nil {
			var retry <-chan time.Time
			var timer *time.Timer
			if empty {
				clear(tried) // none ready: wait for one, as long as it takes
			} else {
				if w.spent >= w.giveUp {
					return nil, nil
				}
				timer = time.NewTimer(min(w.pause, w.giveUp-w.spent))
				retry = timer.C
			}
			t0 := time.Now()
			select {
			case <-wait:
				clear(tried) // a change: retry them all
			case <-retry:
				clear(tried)
				w.pause = min(2*w.pause, proxyRetryMax)
			case ch := <-req:
				if len(ch.b) == 0 {
					if timer != nil {
						timer.Stop()
					}
					return nil, nil // the client left
				}
				*first, req = &ch, nil
			case <-r.loopDone:
				return nil, nil
			case <-gone:
				return nil, nil
			}
			if timer != nil {
				timer.Stop()
				w.spent += time.Since(t0)
			}
			continue
		}
		t0 := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		bc, err := dialLoopback(ctx, b.port)
		cancel()
		if err != nil {
			w.spent += time.Since(t0)
			b.open.Add(-1)
			tried[b] = true
			continue
		}
		return b, bc
	}
}

// chunk is the first read from one side of a connection.
type chunk struct {
	b   []byte
	err error
}

func readChunk(c net.Conn, to chan<- chunk) {
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	to <- chunk{buf[:n], err}
}

func have(ch chunk) <-chan chunk {
	c := make(chan chunk, 1)
	c <- ch
	return c
}

// splice copies both ways, each starting with that side's first read (up:
// the client's, down: the worker's), which may still be coming; io.Copy
// between *net.TCPConn uses splice(2) on Linux. Each direction's EOF is
// passed on as a half-close. answered, when set, runs once the worker's
// first read is in.
func splice(c, bc net.Conn, up, down <-chan chunk, answered func()) {
	done := make(chan struct{})
	go func() {
		pipe(bc, c, <-up)
		close(done)
	}()
	first := <-down
	if answered != nil {
		answered()
	}
	pipe(c, bc, first)
	<-done
	bc.Close()
}

// pipe writes first to dst, copies the rest of src after it, then
// half-closes dst.
func pipe(dst, src net.Conn, first chunk) {
	var err error
	if len(first.b) > 0 {
		_, err = dst.Write(first.b)
	}
	if err == nil && first.err == nil {
		io.Copy(dst, src)
	}
	closeWrite(dst)
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
		port, err := loopbackPort()
		if err != nil {
			return 0, err
		}
		if !ps.used[port] && !boundOnV6Loopback(port) {
			ps.used[port] = true
			return port, nil
		}
	}
	return 0, errors.New("no free loopback port")
}

// loopbackPort returns a port free on 127.0.0.1 (a variable for the tests).
var loopbackPort = func() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// boundOnV6Loopback reports whether some socket holds [::1]:port: the
// worker's connections and probes fall back to [::1] while 127.0.0.1
// refuses (see dialLoopback), so such a port could reach another program.
// No IPv6 here: false.
func boundOnV6Loopback(port int) bool {
	l, err := net.Listen("tcp6", net.JoinHostPort("::1", strconv.Itoa(port)))
	if err != nil {
		return errors.Is(err, syscall.EADDRINUSE)
	}
	l.Close()
	return false
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

// dialLoopback connects to port on 127.0.0.1, or on [::1] when nothing
// listens there: an app told to listen on "localhost" may get ::1 alone
// (Node 17+ resolves it so). 127.0.0.1 is tried first every time, so that a
// worker that listens there again (after a restart) is not passed over for
// whatever took [::1] at that port meanwhile.
func dialLoopback(ctx context.Context, port string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", port))
	if err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
		return c, err
	}
	c, err2 := d.DialContext(ctx, "tcp", net.JoinHostPort("::1", port))
	if err2 != nil {
		return nil, err // the first refusal says it best (no IPv6 here, say)
	}
	return c, nil
}
