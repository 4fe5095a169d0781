package runner

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cluster-run/cluster/procfile"
)

// A client that does not read is told how many bytes it lost, the worker
// and the log never wait for it, and the end of the worker's terminal ends
// the attachment.
func TestAttachSlowClientAndEnd(t *testing.T) {
	rn, term := attachTo(t, `echo up; while read l; do yes "line of $l" | head -n 50000; echo "done $l"; done`)
	if _, err := rn.r.Attach("app.2"); err == nil {
		t.Error("Attach(app.2) of a 1-worker type succeeded")
	}
	term.queue = 2 // so that the 50,000 lines overflow it however the kernel chunks them
	client, served := servePipe(term)
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
	waitServed(t, served, "the worker's terminal closed")
}

// Input for a worker that does not read its terminal does not block the
// client: past inputWait it is dropped and the client told, so the client
// keeps writing (its Ctrl-\ still detaches), and when it leaves, Serve ends
// at once instead of holding its connection until the worker exits.
func TestAttachInputToAWorkerThatDoesNotRead(t *testing.T) {
	_, term := attachTo(t, `echo up; exec sleep 1000`)
	term.inputWait = 100 * time.Millisecond
	client, served := servePipe(term)
	notice := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(client)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "bytes of input dropped: app.1 is not reading its terminal") {
				select {
				case notice <- sc.Text():
				default:
				}
			}
		}
	}()
	wrote := make(chan error, 1)
	go func() {
		// 300 KB: far past what a terminal's input buffer holds.
		_, err := client.Write(DataFrames(bytes.Repeat([]byte("some input line\n"), 300000/16)))
		wrote <- err
	}()
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatalf("client write: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the client's input blocked")
	}
	select {
	case <-notice:
	case <-time.After(10 * time.Second):
		t.Fatal("no notice of the dropped input")
	}
	client.Close()
	waitServed(t, served, "the client left")
}

// attachTo starts one tty = true worker of type app running script, which
// prints "up" first, and attaches to it.
func attachTo(t *testing.T, script string) (*running, *Terminal) {
	t.Helper()
	p := shProc("app", script)
	p.TTY = true
	rn := start(t, Options{Config: config(p)})
	rn.rec.waitLine(t, `^app\.1 tty: up`, 10*time.Second)
	term, err := rn.r.Attach("app")
	if err != nil {
		t.Fatal(err)
	}
	return rn, term
}

// servePipe serves term to the client end of a pipe; served closes when
// Serve returns.
func servePipe(term *Terminal) (client net.Conn, served <-chan struct{}) {
	client, server := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		term.Serve(server, time.Minute) // a client may read only after a flood: slow on a busy machine
		server.Close()
	}()
	return client, done
}

func waitServed(t *testing.T, served <-chan struct{}, after string) {
	t.Helper()
	select {
	case <-served:
	case <-time.After(20 * time.Second):
		t.Fatalf("Serve still runs after %s", after)
	}
}

// A tty worker that is not running has no terminal to attach to: in
// backoff, Attach says so instead of handing out the
// closed terminal of the process that exited (the client printed "attached"
// and at once "terminal closed", exit 0).
func TestAttachRefusedWhileNotRunning(t *testing.T) {
	crash := shProc("crash", "exit 1")
	crash.TTY, crash.Restart, crash.MaxRestarts = true, procfile.RestartAlways, 1000
	rn := start(t, Options{Config: config(crash)})

	// The sixth backoff lasts 2.56 s at least (3.2 s ± 20%): time enough to
	// ask while it runs, however busy the machine.
	rn.waitStatus(t, func(s Status) bool {
		return len(s.Workers) == 1 && s.Workers[0].State == StateBackoff && s.Workers[0].Restarts >= 6
	}, "crash.1 in its sixth backoff")
	if _, err := rn.r.Attach("crash.1"); err == nil || err.Error() != "crash.1 is not running (backoff after exit status 1): attach again once it has restarted" {
		t.Errorf("Attach(crash.1) in backoff: %v", err)
	}
}

// Input that reaches a terminal already closed by its worker's exit does not
// end the attachment as a detach would: Serve goes on reading the client
// and ends with the "terminal closed" marker, by which the client tells the
// worker's end from a runner that died.
func TestAttachInputAfterTheTerminalClosed(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	w.Close() // as release closes the master before it tells the clients
	term := &Terminal{Name: "app.1", master: w, clients: &ttyClients{}, queue: attachQueue, inputWait: time.Second}
	client, served := servePipe(term)
	out := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(client); out <- b }()
	for i := range 2 {
		if _, err := client.Write(DataFrames([]byte("typed\r"))); err != nil {
			t.Fatalf("write %d after the terminal closed: %v (Serve ended)", i+1, err)
		}
	}
	term.clients.close()
	waitServed(t, served, "the terminal closed")
	if b := <-out; !bytes.HasSuffix(b, []byte("\r\n[cluster: app.1's terminal closed]\r\n")) {
		t.Errorf("the client got %q, want the terminal closed marker at the end", b)
	}
}
