package runner

import (
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cluster-run/cluster/procfile"
)

// With no worker ready (here: scaled to 0), proxy mode leaves connections
// in the shared socket's queue, where the kernel holds them for free and
// none is reset, instead of accepting them into the runner; each is served
// once a worker is ready.
func TestProxyQueuesInTheSocketWhileNoWorkerIsReady(t *testing.T) {
	p := helperProc("web", procfile.SocketProxy, 1)
	rn := start(t, Options{Config: config(p)})
	rn.waitEvents(t, "web.1 ready", 1, 20*time.Second)
	addr := rn.addr(t, "web")
	var fd int
	for _, pt := range rn.r.types {
		if pt.p.Name == "web" {
			fd = pt.listeners[0].FD()
		}
	}
	if _, err := rn.r.Scale("web", 0); err != nil {
		t.Fatal(err)
	}
	rn.waitEvents(t, "web.1 exited", 1, 20*time.Second)
	const n = 20
	var conns []net.Conn
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("connection refused with web scaled to 0: %v", err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	queued := func() int {
		info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			t.Fatal(err)
		}
		return int(info.Unacked) // a listening socket's accept queue
	}
	for deadline := time.Now().Add(10 * time.Second); queued() < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d connections in the socket's queue: the others were accepted by the runner with no worker to take them", queued(), n)
		}
	}
	if _, err := rn.r.Scale("web", 1); err != nil {
		t.Fatal(err)
	}
	for i, c := range conns {
		status, err := get(c, 20*time.Second)
		if err != nil || !strings.Contains(status, "200") {
			t.Fatalf("queued connection %d: %q, %v", i, status, err)
		}
	}
}
