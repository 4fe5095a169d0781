package runner

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Attaching to a worker's terminal (tty = true).
//
// The copy of the worker's pty master into the log (copyTTY) also offers
// every chunk to the attached clients: each has a bounded queue, and a
// client that does not keep up loses bytes (it is told how many) rather
// than slowing the worker or the main output. What a client types reaches
// the master in frames (below); the worker sees it as typed on its terminal.
//
// The attach protocol, after the control socket's request line
// {"cmd":"attach","args":["web.1"]} and its one-line JSON answer:
// the runner sends the terminal's raw bytes; the client sends frames of
// one kind byte, a big-endian uint16 length and that many bytes:
//
//	'd' data: bytes typed
//	'w' window size: rows, columns as big-endian uint16s
//
// The connection ends when the client closes it (detach) or the worker's
// terminal goes away: then its last bytes are the line
// "\r\n[cluster: web.1's terminal closed]\r\n", by which the client tells
// the worker's end from a runner that died.

const (
	attachQueue     = 256        // chunks queued per client before bytes are dropped
	attachMaxFrame  = 64<<10 - 1 // a frame's payload
	frameData       = 'd'
	frameWindowSize = 'w'
)

// ttyClients are the attached clients of one worker's terminal; the copy
// goroutine and the attach requests share it, so a mutex guards it.
type ttyClients struct {
	n       atomic.Int32 // len(clients), read without the lock on every chunk
	mu      sync.Mutex
	closed  bool
	clients map[*attachClient]struct{}
}

type attachClient struct {
	ch      chan []byte
	done    chan struct{} // closed when the terminal is gone
	skipped int           // bytes dropped since the last marker; under ttyClients.mu
}

func (c *ttyClients) add(queue int) *attachClient {
	cl := &attachClient{ch: make(chan []byte, queue), done: make(chan struct{})}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		close(cl.done)
		return cl
	}
	if c.clients == nil {
		c.clients = map[*attachClient]struct{}{}
	}
	c.clients[cl] = struct{}{}
	c.n.Store(int32(len(c.clients)))
	return cl
}

func (c *ttyClients) remove(cl *attachClient) {
	c.mu.Lock()
	delete(c.clients, cl)
	c.n.Store(int32(len(c.clients)))
	c.mu.Unlock()
}

// send offers b to every client without ever waiting.
func (c *ttyClients) send(b []byte) {
	if c.n.Load() == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for cl := range c.clients {
		select {
		case cl.ch <- append([]byte(nil), b...):
		default:
			cl.skipped += len(b)
		}
	}
}

// takeSkipped returns and resets the bytes cl lost.
func (c *ttyClients) takeSkipped(cl *attachClient) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := cl.skipped
	cl.skipped = 0
	return n
}

// isClosed reports whether the terminal is gone.
func (c *ttyClients) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// close ends every attachment: the terminal is gone.
func (c *ttyClients) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	for cl := range c.clients {
		close(cl.done)
	}
}

// teeWriter is the log writer of a worker's terminal output, offering each
// chunk to the attached clients too.
type teeWriter struct {
	io.WriteCloser
	clients *ttyClients
}

func (t teeWriter) Write(b []byte) (int, error) {
	t.clients.send(b)
	return t.WriteCloser.Write(b)
}

// Terminal is one worker's pseudo-terminal, as Attach hands it out.
type Terminal struct {
	Name    string // "web.1"
	PID     int
	master  *os.File
	clients *ttyClients
	queue   int // chunks queued for a client before bytes are dropped (attachQueue)
	// inputWait is how long input waits for a worker that does not read
	// its terminal before it is dropped (attachInputWait).
	inputWait time.Duration
}

// attachInputWait bounds how long a client's input waits for room in the
// terminal of a worker that does not read it: past that it is dropped and
// the client told, so the client never blocks (its Ctrl-\ still detaches)
// and the runner notices when it leaves.
const attachInputWait = 2 * time.Second

// ErrNoTerminal: the type runs without tty = true.
var ErrNoTerminal = errors.New("no terminal to attach to")

// Attach finds the terminal of the worker named by target (PROCESS.N, or
// PROCESS when it has one worker). Only types with tty = true have one.
func (r *Runner) Attach(target string) (*Terminal, error) {
	var term *Terminal
	var rerr error
	err := r.ask(func() {
		t, idx, err := r.parseTarget(target)
		if err != nil {
			rerr = err
			return
		}
		if !t.p.TTY {
			rerr = fmt.Errorf("%w: %s runs without one; set tty = true in [process.%s] (its stdin, stdout and stderr become a terminal) and reload", ErrNoTerminal, t.p.Name, t.p.Name)
			return
		}
		if idx == 0 {
			if t.count != 1 {
				rerr = fmt.Errorf("%s has %s: name one, as in %s.1", t.p.Name, plural(t.count, "worker"), t.p.Name)
				return
			}
			idx = 1
		}
		s := t.slots[idx]
		if s == nil {
			rerr = fmt.Errorf("no running worker matches %s", target)
			return
		}
		s.mu.Lock()
		pr, info := s.cur, s.info
		s.mu.Unlock()
		// Between two runs (backoff) and after the last, cur is still the
		// process that exited: its terminal is closed.
		if pr == nil || pr.ttyFile == nil || pr.clients == nil || pr.clients.isClosed() || info.PID == 0 {
			rerr = notRunning(s.name, info)
			return
		}
		pid := info.PID
		term = &Terminal{Name: s.name, PID: pid, master: pr.ttyFile, clients: pr.clients, queue: attachQueue, inputWait: attachInputWait}
	})
	if err == nil {
		err = rerr
	}
	return term, err
}

// notRunning is why a worker without a live process has no terminal to
// attach to.
func notRunning(name string, info WorkerInfo) error {
	exit := ""
	switch {
	case info.LastSignal != "":
		exit = "signal " + info.LastSignal
	case info.Last != nil:
		exit = "status " + strconv.Itoa(*info.Last)
	}
	switch {
	case info.State == StateBackoff && exit != "":
		return fmt.Errorf("%s is not running (backoff after exit %s): attach again once it has restarted", name, exit)
	case info.State == StateBackoff:
		return fmt.Errorf("%s is not running (backoff): attach again once it has restarted", name)
	case info.State == StateFailed:
		return fmt.Errorf("%s is not running (failed after exit %s)", name, exit)
	case info.State == StateExited && exit != "":
		return fmt.Errorf("%s is not running (it exited with %s)", name, exit)
	}
	return fmt.Errorf("%s is not running (%s): attach again once it runs", name, info.State)
}

// Serve connects conn to the terminal until the client detaches (closes
// its side), conn fails, or the terminal goes away. writeTimeout bounds each
// write to the client.
func (t *Terminal) Serve(conn net.Conn, writeTimeout time.Duration) {
	cl := t.clients.add(t.queue)
	defer t.clients.remove(cl)
	input := make(chan struct{})
	var dropped atomic.Int64
	droppedSome := make(chan struct{}, 1)
	go func() {
		defer close(input)
		t.readFrames(conn, func(n int) {
			dropped.Add(int64(n))
			select {
			case droppedSome <- struct{}{}:
			default:
			}
		})
	}()
	write := func(b []byte) bool {
		conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		_, err := conn.Write(b)
		return err == nil
	}
	for {
		select {
		case b := <-cl.ch:
			if n := t.clients.takeSkipped(cl); n > 0 {
				if !write(fmt.Appendf(nil, "\r\n[cluster: %d bytes skipped: this client did not keep up]\r\n", n)) {
					return
				}
			}
			if !write(b) {
				return
			}
		case <-cl.done:
			for {
				select {
				case b := <-cl.ch:
					if !write(b) {
						return
					}
					continue
				default:
				}
				break
			}
			write(fmt.Appendf(nil, "\r\n[cluster: %s's terminal closed]\r\n", t.Name))
			return
		case <-droppedSome:
			if !write(fmt.Appendf(nil, "\r\n[cluster: %d bytes of input dropped: %s is not reading its terminal]\r\n", dropped.Swap(0), t.Name)) {
				return
			}
		case <-input:
			return // detached
		}
	}
}

// readFrames applies the client's frames to the terminal until the client
// leaves (EOF or an error). Input the terminal has no room for within
// inputWait is dropped and counted to dropped. Once a write fails otherwise
// (the worker exited and release closed the master), input is discarded but
// the client still read: Serve then ends when the terminal's close is
// announced, with its marker, not as if the client had left.
func (t *Terminal) readFrames(r io.Reader, dropped func(n int)) {
	broken := false
	var hdr [3]byte
	buf := make([]byte, 4096)
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(hdr[1:]))
		if n > len(buf) {
			buf = make([]byte, n)
		}
		if _, err := io.ReadFull(r, buf[:n]); err != nil {
			return
		}
		switch hdr[0] {
		case frameData:
			if broken {
				continue
			}
			// Where the master is not in the poller (some macOS ptys) there
			// is no deadline, and the write waits as before.
			t.master.SetWriteDeadline(time.Now().Add(t.inputWait))
			w, err := t.master.Write(buf[:n])
			if errors.Is(err, os.ErrDeadlineExceeded) {
				dropped(n - w)
			} else if err != nil {
				broken = true
			}
		case frameWindowSize:
			if n == 4 {
				ws := unix.Winsize{Row: binary.BigEndian.Uint16(buf), Col: binary.BigEndian.Uint16(buf[2:])}
				if raw, err := t.master.SyscallConn(); err == nil {
					raw.Control(func(fd uintptr) { unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &ws) })
				}
			}
		}
	}
}

// AppendFrame appends one client frame to b: kind is 'd' (data) or 'w'
// (window size, see WindowSizeFrame).
func AppendFrame(b []byte, kind byte, payload []byte) []byte {
	b = append(b, kind, byte(len(payload)>>8), byte(len(payload)))
	return append(b, payload...)
}

// WindowSizeFrame is the frame that tells the worker's terminal its size.
func WindowSizeFrame(rows, cols uint16) []byte {
	return AppendFrame(nil, frameWindowSize, []byte{byte(rows >> 8), byte(rows), byte(cols >> 8), byte(cols)})
}

// DataFrames splits typed bytes into data frames.
func DataFrames(b []byte) []byte {
	var out []byte
	for len(b) > 0 {
		n := min(len(b), attachMaxFrame)
		out = AppendFrame(out, frameData, b[:n])
		b = b[n:]
	}
	return out
}
