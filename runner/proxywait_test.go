package runner

import (
	"errors"
	"io"
	"net"
	"strconv"
	"testing"
	"time"
)

// frontProxy runs the proxy's accept loop for p on a fresh loopback socket
// and returns its address; everything stops at the end of the test.
// giveUp replaces proxyGiveUp when not 0.
func frontProxy(t *testing.T, p *pool, giveUp time.Duration) string {
	t.Helper()
	ln := listenLoopback(t)
	r := &Runner{loopDone: make(chan struct{}), giveUp: giveUp}
	gone, quit := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() {
		r.serveProxy(ln, p, gone, quit)
		close(done)
	}()
	t.Cleanup(func() {
		close(quit)
		ln.Close()
		close(r.loopDone)
		<-done
	})
	return ln.Addr().String()
}

// listenLoopback listens on a fresh loopback port.
func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// portOf is the port l listens on, as a backend names it.
func portOf(l net.Listener) string { return strconv.Itoa(l.Addr().(*net.TCPAddr).Port) }

// freePort returns a loopback port nothing listens on (now).
func freePort(t *testing.T) int {
	t.Helper()
	l := listenLoopback(t)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// greetNext has the next connection l accepts greeted with "hello\n", then
// read to its end.
func greetNext(l net.Listener) {
	go func() {
		w, err := l.Accept()
		if err != nil {
			return
		}
		defer w.Close()
		w.Write([]byte("hello\n"))
		io.Copy(io.Discard, w)
	}()
}

// readHello reads the greeting on c, waiting for it up to 10s.
func readHello(c net.Conn) ([]byte, error) {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 6)
	_, err := io.ReadFull(c, buf)
	return buf, err
}

// waitingConn returns a client connection and the proxy's side of it, to
// be handed to forward.
func waitingConn(t *testing.T) (client, proxied net.Conn) {
	t.Helper()
	ln := listenLoopback(t)
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ln.Accept()
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	return c, sc
}

// A connection whose one ready worker failed it (here: reset it before a
// byte) is retried on that same worker, with no change in the pool, instead
// of waiting for the next change forever.
func TestProxyRetriesTheWorkersThatFailed(t *testing.T) {
	wl := listenLoopback(t)
	defer wl.Close()
	p := newPool()
	p.add(&backend{name: "web.1", port: portOf(wl)})
	c, err := net.Dial("tcp", frontProxy(t, p, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The first connection the proxy makes is reset unread; the next one
	// greets.
	first, err := wl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	first.(*net.TCPConn).SetLinger(0)
	first.Close()
	greetNext(wl)
	if buf, err := readHello(c); err != nil || string(buf) != "hello\n" {
		t.Fatalf("connection after its worker reset it once: %q, %v; want it retried", buf, err)
	}
}

// A connection no ready worker takes (here the only one refuses every
// time) is closed after proxyGiveUp, freeing its slot.
func TestProxyGivesUpWhenReadyWorkersNeverAnswer(t *testing.T) {
	const giveUp = time.Second
	p := newPool()
	p.add(&backend{name: "web.1", port: strconv.Itoa(freePort(t))})
	c, err := net.Dial("tcp", frontProxy(t, p, giveUp))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t0 := time.Now()
	c.SetReadDeadline(t0.Add(15 * time.Second))
	n, err := c.Read(make([]byte, 1))
	took := time.Since(t0)
	var ne net.Error
	if n > 0 || err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("connection to a worker that always refuses: %d bytes, %v after %s; want it closed after about %s", n, err, took.Round(time.Millisecond), giveUp)
	}
	if took < giveUp/2 {
		t.Errorf("closed after %s, before proxyGiveUp (%s)", took, giveUp)
	}
	t.Logf("closed after %s: %v", took.Round(time.Millisecond), err)
}

// The give-up time counts only while some worker is ready: with none (a
// slow start, scaled to 0) a connection waits however long it takes.
func TestProxyNoGiveUpWhileNoWorkerIsReady(t *testing.T) {
	const giveUp = 200 * time.Millisecond
	port := freePort(t)
	b := &backend{name: "web.1", port: strconv.Itoa(port)}
	p := newPool()
	p.add(b)
	front := frontProxy(t, p, giveUp)
	// Connected while web.1 is ready, then it goes before the proxy gives
	// up on it (well within proxyGiveUp, but a loaded machine may miss
	// that: the test is skipped then).
	t0 := time.Now()
	c, err := net.Dial("tcp", front)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p.drain(b)
	if time.Since(t0) > giveUp/2 {
		t.Skip("too slow here to drain within the give-up time")
	}
	// Well past proxyGiveUp with no worker, the connection is still open.
	c.SetReadDeadline(time.Now().Add(4 * giveUp))
	if n, err := c.Read(make([]byte, 1)); n > 0 || !isTimeout(err) {
		t.Fatalf("waiting connection with no worker ready: %d bytes, %v; want it still waiting", n, err)
	}
	wl := listenLoopback(t)
	defer wl.Close()
	greetNext(wl)
	p.add(&backend{name: "web.2", port: portOf(wl)})
	if buf, err := readHello(c); err != nil || string(buf) != "hello\n" {
		t.Fatalf("connection once a worker is ready: %q, %v", buf, err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// A connection waiting for a worker whose client hangs up ends at once:
// its socket and goroutines are not kept until a worker is ready.
func TestProxyWaitingConnectionEndsWhenTheClientLeaves(t *testing.T) {
	r := &Runner{loopDone: make(chan struct{})}
	defer close(r.loopDone)
	p := newPool() // no worker ready: scaled to 0, say
	c, sc := waitingConn(t)
	defer c.Close()
	done := make(chan struct{})
	go func() {
		r.forward(sc, p, make(chan struct{}), func() {})
		close(done)
	}()
	c.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the connection still waits for a worker 10s after its client left")
	}
}

// A waiting client that sends its request keeps waiting, and the request
// goes to the worker that comes.
func TestProxyWaitingConnectionKeepsItsRequest(t *testing.T) {
	r := &Runner{loopDone: make(chan struct{})}
	defer close(r.loopDone)
	p := newPool()
	c, sc := waitingConn(t)
	defer c.Close()
	go r.forward(sc, p, make(chan struct{}), func() {})
	c.Write([]byte("ping\n"))
	c.(*net.TCPConn).CloseWrite()
	wl := listenLoopback(t)
	defer wl.Close()
	p.add(&backend{name: "web.1", port: portOf(wl)})
	w, err := wl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(w)
	if string(got) != "ping\n" {
		t.Fatalf("worker got %q, %v; want the request sent while waiting", got, err)
	}
	w.Write([]byte("pong\n"))
	w.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if got, err := io.ReadAll(c); string(got) != "pong\n" {
		t.Fatalf("client got %q, %v", got, err)
	}
}

// A private port is never one that [::1] listens on: a worker on 127.0.0.1
// that is not listening yet (or restarting) would have its connections
// and probes fall back to [::1], to that other program.
func TestPortsSkipsAPortBoundOnIPv6Loopback(t *testing.T) {
	l6, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	defer l6.Close()
	taken := l6.Addr().(*net.TCPAddr).Port
	if l4, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(taken))); err != nil {
		t.Skipf("port %d is in use on 127.0.0.1 too: %v", taken, err)
	} else {
		l4.Close()
	}
	defer func(f func() (int, error)) { loopbackPort = f }(loopbackPort)
	real, first := loopbackPort, true
	loopbackPort = func() (int, error) { // the kernel offers the port [::1] holds first
		if first {
			first = false
			return taken, nil
		}
		return real()
	}
	var ps ports
	port, err := ps.get()
	if err != nil {
		t.Fatal(err)
	}
	if port == taken {
		t.Fatalf("got port %d, which a program listens on at [::1]", port)
	}
}

// A connection that fell back to [::1] once, while nothing listened on
// 127.0.0.1 (the worker restarting, say), does not make [::1] the first
// choice for that worker: once it listens on 127.0.0.1 again, connections
// go there, not to whatever listens on [::1] at that port.
func TestProxyDoesNotStickToIPv6Loopback(t *testing.T) {
	l4, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l4.Addr().(*net.TCPAddr).Port)
	l6, err := net.Listen("tcp6", net.JoinHostPort("::1", port))
	if err != nil {
		l4.Close()
		t.Skipf("no IPv6 loopback here, or the port is taken there: %v", err)
	}
	defer l6.Close()
	greet := func(l net.Listener, what string) {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(what))
			c.Close()
		}
	}
	go greet(l6, "foreign\n")
	l4.Close() // the worker restarts
	p := newPool()
	p.add(&backend{name: "web.1", port: port})
	front := frontProxy(t, p, 0)
	read := func() string {
		t.Helper()
		c, err := net.Dial("tcp", front)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, err := io.ReadAll(c)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := read(); got != "foreign\n" {
		t.Fatalf("with nothing on 127.0.0.1: %q, want the [::1] listener's answer", got)
	}
	l4, err = net.Listen("tcp4", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		t.Skipf("port %s taken on 127.0.0.1 meanwhile: %v", port, err)
	}
	defer l4.Close()
	go greet(l4, "worker\n")
	if got := read(); got != "worker\n" {
		t.Fatalf("with the worker back on 127.0.0.1: %q, want the worker's answer", got)
	}
}
