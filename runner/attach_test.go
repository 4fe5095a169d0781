package runner

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

// A client that does not read is told how many bytes it lost, the worker
// and the log never wait for it, and the end of the worker's terminal ends
// the attachment.
func TestAttachSlowClientAndEnd(t *testing.T) {
	p := shProc("app", `echo up; while read l; do yes "line of $l" | head -n 50000; echo "done $l"; done`)
	p.TTY = true
	rn := start(t, Options{Config: config(p)})
	rn.rec.waitLine(t, `^app\.1 tty: up`, 10*time.Second)
	term, err := rn.r.Attach("app")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rn.r.Attach("app.2"); err == nil {
		t.Error("Attach(app.2) of a 1-worker type succeeded")
	}
	term.queue = 2 // so that the 50,000 lines overflow it however the kernel chunks them
	client, server := net.Pipe()
	served := make(chan struct{})
	go func() {
		defer close(served)
		term.Serve(server, time.Minute) // the client reads only after the flood: slow on a busy machine
		server.Close()
	}()
	// Type a line, then do not read while the worker prints 50,000 lines.
	if _, err := client.Write(DataFrames([]byte("one\n"))); err != nil {
		t.Fatal(err)
	}
	rn.rec.waitLine(t, `^app\.1 tty: done one`, time.Minute)
	lines, _ := rn.rec.snapshot()
	n := 0
	for _, l := range lines {
		if strings.TrimSuffix(l, "\r") == "app.1 tty: line of one" { // the terminal writes \r\n; logmux drops the \r
			n++
		}
	}
	if n != 50000 {
		t.Errorf("the log has %d of the 50000 lines", n)
	}
	// Now read: a skip marker comes, then the rest.
	found := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(client)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "bytes skipped: this client did not keep up") {
				found <- true
				for sc.Scan() {
				}
				return
			}
		}
		found <- false
	}()
	// End the worker: the attachment ends with a line saying so.
	if _, err := rn.r.Signal("app.1", 9); err != nil {
		t.Fatal(err)
	}
	select {
	case ok := <-found:
		if !ok {
			t.Error("no skip marker")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no skip marker within 20s")
	}
	select {
	case <-served:
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return after the worker's terminal closed")
	}
}
