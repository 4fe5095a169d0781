package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"regexp"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cluster-run/cluster/runner"
)

// detachKey ends `cluster attach` (Ctrl-\, as in docker's and overmind's
// habit of a control key the app rarely needs; it is not passed on).
const detachKey = 0x1c

const attachSynopsis = "[-f FILE] PROCESS[.N]"

// attachQuiet: when stdin is not a terminal and ends, attach still prints
// the worker's output until none came for this long.
const attachQuiet = 500 * time.Millisecond

// attachOutput copies the terminal to w, signals got after each write, and
// keeps the last bytes: the runner ends a worker's attachment with a marker
// line, and a stream that ends without it means the runner died.
type attachOutput struct {
	w    io.Writer
	got  chan struct{}
	keep int    // bytes of tail: more than the marker with the worker's name
	tail []byte // the copy goroutine's until it ends
}

// closedMarker is how the runner ends the stream when the worker's terminal
// is gone (runner.Terminal.Serve).
var closedMarker = regexp.MustCompile(`\r\n\[cluster: [^\r\n\]]+'s terminal closed\]\r\n$`)

func (o *attachOutput) Write(b []byte) (int, error) {
	select {
	case o.got <- struct{}{}:
	default:
	}
	o.tail = append(o.tail, b[max(0, len(b)-o.keep):]...)
	o.tail = o.tail[max(0, len(o.tail)-o.keep):]
	return o.w.Write(b)
}

// closed reports whether the stream ended with the runner's marker; read it
// after the copy ended.
func (o *attachOutput) closed() bool { return closedMarker.Match(o.tail) }

// lostLine is what attach prints when the stream ends without the marker.
const lostLine = "[cluster: connection to the cluster lost]"

// cmdAttach connects the terminal to a tty = true worker's terminal until
// the detach key, the end of stdin, or the worker's terminal going away.
// Exit status: 0 detached or the worker's terminal closed; 1 the cluster is
// not running, refused, or the connection to it ended otherwise; 2 usage.
func cmdAttach(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("attach", attachSynopsis, stdout)
	file := fs.String("f", "", "`FILE` the Clusterfile or Procfile of the running cluster (its directory holds the control socket)")
	pos, code := parseFlags(fs, args, stderr)
	if code >= 0 {
		return code
	}
	if len(pos) != 1 || !workerArg(pos[0]) {
		usageError(stderr, "attach", "want one PROCESS.N")
		return 2
	}
	path, err := controlTarget(*file)
	var conn net.Conn
	if err == nil {
		conn, err = dialAttach(path, pos[0])
	}
	if err != nil {
		fmt.Fprintf(stderr, "cluster attach: %v\n", err)
		return 1
	}
	defer conn.Close()

	in, isFile := stdin.(*os.File)
	term := isFile && isTerminal(in)
	var interrupted <-chan os.Signal // nil unless the terminal is raw
	if term {
		// SIGTERM or SIGHUP (a kill, a closing ssh or tmux) must not leave
		// the terminal raw: they end the session, and restore runs.
		sigs, stop := interrupts()
		defer stop()
		interrupted = sigs
		fmt.Fprintf(stderr, "attached to %s; detach with Ctrl-\\\r\n", pos[0])
		restore, err := rawTerminal(int(in.Fd()))
		if err != nil {
			fmt.Fprintf(stderr, "cluster attach: %v\n", err)
			return 1
		}
		defer restore()
		sendWindowSize(conn, int(in.Fd()))
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		go func() {
			for range winch {
				sendWindowSize(conn, int(in.Fd()))
			}
		}()
	}

	detached := make(chan struct{})
	go func() {
		defer close(detached)
		buf := make([]byte, 4096)
		for {
			n, err := stdin.Read(buf)
			b := buf[:n]
			i := bytes.IndexByte(b, detachKey)
			if term && i >= 0 {
				b = b[:i]
			}
			if len(b) > 0 {
				if _, werr := conn.Write(runner.DataFrames(b)); werr != nil {
					return
				}
			}
			if (term && i >= 0) || err != nil {
				return
			}
		}
	}()
	output := make(chan struct{})
	got := make(chan struct{}, 1)
	out := &attachOutput{w: stdout, got: got, keep: 64 + len(pos[0])} // the name is pos[0], or pos[0].1
	go func() {
		defer close(output)
		io.Copy(out, conn)
	}()
	// ended: the runner ended the stream. The worker's terminal closed
	// (status 0), or without that marker the runner died or broke off
	// (status 1, said on stderr).
	ended := func() int {
		switch {
		case out.closed() && term:
			fmt.Fprint(stderr, "\r\n")
		case out.closed():
		case term:
			fmt.Fprint(stderr, "\r\n"+lostLine+"\r\n")
			return 1
		default:
			fmt.Fprintln(stderr, lostLine)
			return 1
		}
		return 0
	}
	select {
	case <-detached:
		if term {
			fmt.Fprintf(stderr, "\r\ndetached from %s\r\n", pos[0])
			return 0
		}
		// stdin ended (a pipe, a script): print what the worker answers
		// until it is quiet for attachQuiet, then detach.
		for {
			select {
			case <-output:
				return ended()
			case <-got:
				continue
			case <-time.After(attachQuiet):
			}
			return 0
		}
	case <-output:
		return ended()
	case sig := <-interrupted:
		fmt.Fprintf(stderr, "\r\ndetached from %s (%s)\r\n", pos[0], sig)
		if s, ok := sig.(syscall.Signal); ok {
			return 128 + int(s)
		}
		return 1
	}
}

// dialAttach sends the attach request and reads its answer; the connection
// then carries the terminal.
func dialAttach(path, target string) (net.Conn, error) {
	conn, err := runner.DialControl(path)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	werr := json.NewEncoder(conn).Encode(runner.Request{Cmd: "attach", Args: []string{target}})
	// Read the answer line byte by byte: what follows it is the terminal.
	var line []byte
	one := make([]byte, 1)
	for {
		if _, err := conn.Read(one); err != nil {
			conn.Close()
			if werr != nil {
				return nil, werr
			}
			return nil, fmt.Errorf("control socket %s: %w", path, err)
		}
		if one[0] == '\n' {
			break
		}
		line = append(line, one[0])
	}
	var resp runner.Response
	if err := json.Unmarshal(line, &resp); err != nil {
		conn.Close()
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if !resp.OK {
		conn.Close()
		return nil, fmt.Errorf("the cluster refused: %s", resp.Error)
	}
	conn.SetDeadline(time.Time{})
	return conn, nil
}

func sendWindowSize(conn net.Conn, fd int) {
	if ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ); err == nil && ws.Row > 0 && ws.Col > 0 {
		conn.Write(runner.WindowSizeFrame(ws.Row, ws.Col))
	}
}

// rawTerminal puts fd in raw mode (as cfmakeraw) and returns what restores
// it. The worker's terminal does the echoing, line editing and ^C.
func rawTerminal(fd int) (func(), error) {
	old, err := unix.IoctlGetTermios(fd, termiosGet)
	if err != nil {
		return nil, err
	}
	t := *old
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	if err := unix.IoctlSetTermios(fd, termiosSet, &t); err != nil {
		return nil, err
	}
	return func() { unix.IoctlSetTermios(fd, termiosSet, old) }, nil
}
