package main

// cluster status --watch: the status table redrawn every second. In a
// terminal it draws on the alternate screen, with the keyboard in cbreak
// mode (no echo, no line editing, no signal keys: Ctrl-C arrives as a key)
// so that q or Ctrl-C quits at once; the terminal is restored on every way
// out (a key, SIGINT/SIGTERM/SIGHUP, the cluster stopping, an error).
// Elsewhere it prints the table every second, plainly, tables separated by
// a blank line, as watch(1) does into a pipe.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cluster-run/cluster/runner"
)

const (
	statusEvery = time.Second

	enterScreen = "\x1b[?1049h\x1b[?25l" // alternate screen, cursor hidden
	leaveScreen = "\x1b[?25h\x1b[?1049l"
)

// cmdStatusWatch runs `cluster status --watch` against the socket at path.
// Exit status: 0 quit (q, Ctrl-C, a signal) or the cluster stopped (with a
// line saying so); 1 the cluster was not running to begin with, or refused,
// or a table could not be written (it stops at the first failed write).
func cmdStatusWatch(path string, stdin io.Reader, stdout, stderr io.Writer) int {
	sigs, stopSignals := interrupts()
	defer stopSignals()
	code, msg, toStderr := watchLoop(path, stdin, stdout, sigs)
	switch {
	case msg == "":
	case toStderr:
		fmt.Fprintln(stderr, msg)
	default:
		fmt.Fprintln(stdout, msg)
	}
	return code
}

// watchLoop draws until told to stop, and undoes what it did to the
// terminal before it returns; the caller prints the last line after that.
func watchLoop(path string, stdin io.Reader, stdout io.Writer, sigs <-chan os.Signal) (code int, msg string, toStderr bool) {
	screen := -1 // the terminal's fd when stdout is one
	if f, ok := outputFile(stdout); ok && isTerminal(f) {
		screen = int(f.Fd())
	}
	var keys <-chan byte
	if in, ok := stdin.(*os.File); ok && screen >= 0 && isTerminal(in) {
		if restore, err := cbreak(int(in.Fd())); err == nil {
			defer restore()
			done := make(chan struct{})
			var stopped chan struct{}
			keys, stopped = readKeys(int(in.Fd()), done)
			defer func() { close(done); <-stopped }() // nothing reads the terminal after we return
		}
	}
	if screen >= 0 {
		io.WriteString(stdout, enterScreen)
		defer io.WriteString(stdout, leaveScreen)
	}
	tick := time.NewTicker(statusEvery)
	defer tick.Stop()
	// The status call runs aside, so that q and Ctrl-C are answered even
	// while a busy runner takes its time; a tick during a call is skipped.
	type answer struct {
		resp runner.Response
		err  error
	}
	fetch := func() <-chan answer {
		c := make(chan answer, 1)
		go func() {
			resp, err := runner.Call(path, runner.Request{Cmd: "status"})
			c <- answer{resp, err}
		}()
		return c
	}
	pending := fetch()
	for frame := 0; ; {
		select {
		case a := <-pending:
			pending = nil
			resp, err := a.resp, a.err
			gone := errors.Is(err, runner.ErrNotRunning) || (err == nil && !resp.OK && resp.Error == runner.ErrNotRunning.Error())
			switch {
			case gone && frame > 0:
				return 0, "cluster status: the cluster stopped", false
			case gone && err != nil:
				return 1, fmt.Sprintf("cluster status: %v", err), true
			case gone:
				return 1, "cluster status: " + resp.Error + " (it is stopping)", true
			case err != nil:
				return 1, fmt.Sprintf("cluster status: cannot reach the cluster: %v", err), true
			case !resp.OK || resp.Status == nil:
				return 1, "cluster status: the cluster refused: " + resp.Error, true
			}
			var table bytes.Buffer
			if screen < 0 && frame > 0 {
				table.WriteByte('\n') // a blank line between tables
			}
			printStatus(&table, resp.Status)
			var werr error
			if screen >= 0 {
				werr = drawFrame(stdout, screen, resp.Status.Name, table.String())
			} else {
				_, werr = stdout.Write(table.Bytes())
			}
			if werr != nil { // as cat: a full disk, a terminal gone
				return 1, "cluster status: " + werr.Error(), true
			}
			frame++
		case <-tick.C:
			if pending == nil {
				pending = fetch()
			}
		case k, ok := <-keys:
			if !ok {
				keys = nil // the terminal hung up: a signal still ends it
				continue
			}
			if k == 'q' || k == 'Q' || k == 3 || k == 4 || k == 0x1c { // q, Ctrl-C, Ctrl-D, Ctrl-\
				return 0, "", false
			}
		case <-sigs:
			return 0, "", false
		}
	}
}

// drawFrame redraws the screen in place: each line overwritten and cleared
// to its end, the rest of the screen cleared, lines cut to the window.
func drawFrame(w io.Writer, fd int, name, table string) error {
	cols, rows := 80, 24
	if ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ); err == nil && ws.Col > 0 && ws.Row > 0 {
		cols, rows = int(ws.Col), int(ws.Row)
	}
	head := fmt.Sprintf("cluster %s: every %s; q to quit", name, statusEvery)
	if clock := time.Now().Format("15:04:05"); len(head)+2+len(clock) <= cols {
		head += strings.Repeat(" ", cols-len(head)-len(clock)) + clock
	}
	lines := append([]string{head, ""}, strings.Split(strings.TrimRight(table, "\n"), "\n")...)
	var b strings.Builder
	b.WriteString("\x1b[H")
	for i, l := range lines {
		if i >= rows-1 { // a newline on the last row would scroll
			break
		}
		if len(l) > cols {
			l = l[:cols]
		}
		b.WriteString(l + "\x1b[K\n")
	}
	b.WriteString("\x1b[J")
	_, err := io.WriteString(w, b.String())
	return err
}

// cbreak turns off echo, line editing and the signal keys on the terminal
// fd; restore puts back what was there.
func cbreak(fd int) (restore func(), err error) {
	old, err := unix.IoctlGetTermios(fd, termiosGet)
	if err != nil {
		return nil, err
	}
	t := *old
	t.Lflag &^= unix.ICANON | unix.ECHO | unix.ISIG | unix.IEXTEN
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, termiosSet, &t); err != nil {
		return nil, err
	}
	return func() { unix.IoctlSetTermios(fd, termiosSet, old) }, nil
}

// readKeys delivers the bytes typed on fd until done closes, then closes
// stopped. It polls with a short timeout instead of blocking in read, so
// that it stops reading when told: after status --watch the keyboard is
// the shell's again. keys closes at end of input.
func readKeys(fd int, done <-chan struct{}) (keys <-chan byte, stopped chan struct{}) {
	out := make(chan byte, 16)
	stopped = make(chan struct{})
	go func() {
		defer close(stopped)
		buf := make([]byte, 64)
		for {
			select {
			case <-done:
				return
			default:
			}
			n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 100)
			if n <= 0 {
				if err != nil && !errors.Is(err, unix.EINTR) {
					close(out)
					<-done
					return
				}
				continue
			}
			m, err := unix.Read(fd, buf)
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			if m <= 0 {
				close(out)
				<-done
				return
			}
			for _, c := range buf[:m] {
				select {
				case out <- c:
				case <-done:
					return
				}
			}
		}
	}()
	return out, stopped
}
