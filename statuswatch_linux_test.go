package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cluster-run/cluster/runner"
)

// openPTY opens a pseudo-terminal pair (posix_openpt, unlockpt, ptsname):
// the master, non-blocking so that closing it ends a pending read, and the
// slave, the terminal status --watch is given as stdin and stdout.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	master = os.NewFile(uintptr(fd), "ptmx")
	slave, err = os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close(); master.Close() })
	return master, slave
}

// screen collects what the program draws on the terminal.
type screen struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *screen) read(master *os.File) {
	b := make([]byte, 4096)
	for {
		n, err := master.Read(b)
		s.mu.Lock()
		s.buf.Write(b[:n])
		s.mu.Unlock()
		if err != nil {
			return
		}
	}
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func (s *screen) waitFor(t *testing.T, what string, cond func(string) bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond(s.String()) {
			return
		}
	}
	t.Fatalf("the terminal never showed %s; it got %q", what, s.String())
}

// status --watch in a terminal: cbreak mode while it draws on the
// alternate screen; q, Ctrl-C, SIGTERM or the cluster stopping end it with
// 0, and the terminal is given back exactly as it was each time.
func TestStatusWatchTerminal(t *testing.T) {
	r, _, _ := startCluster(t, twoSleepers, nopOutput{})
	sock := filepath.Join(t.TempDir(), "c.sock")
	ctl, err := runner.ListenControl(sock)
	if err != nil {
		t.Fatal(err)
	}
	go ctl.Serve(r)
	defer ctl.Close()
	t.Setenv("CLUSTER_SOCKET", sock)

	// Each way out: a key, a signal, the cluster stopping (last: it ends the cluster).
	quits := []struct {
		name string
		quit func(t *testing.T, master *os.File)
		last string // printed after the screen is restored
	}{
		{"q", func(t *testing.T, m *os.File) { m.Write([]byte("q")) }, ""},
		{"Ctrl-C", func(t *testing.T, m *os.File) { m.Write([]byte{3}) }, ""},
		{"SIGTERM", func(t *testing.T, m *os.File) { unix.Kill(os.Getpid(), unix.SIGTERM) }, ""},
		{"cluster stopped", func(t *testing.T, m *os.File) {
			if err := r.Stop(); err != nil {
				t.Fatal(err)
			}
		}, "cluster status: the cluster stopped\r\n"},
	}
	for _, q := range quits {
		t.Run(q.name, func(t *testing.T) {
			master, slave := openPTY(t)
			before, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			scr := &screen{}
			go scr.read(master)
			var stderr bytes.Buffer
			code := make(chan int, 1)
			go func() { code <- run([]string{"status", "--watch"}, slave, slave, &stderr) }()

			// Two frames: it redraws.
			scr.waitFor(t, "two frames of both workers", func(s string) bool {
				return strings.HasPrefix(s, enterScreen) && strings.Count(s, "web: 2/2 ready") >= 2 && strings.Contains(s, "web.2")
			})
			during, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			if during.Lflag&(unix.ICANON|unix.ECHO|unix.ISIG) != 0 {
				t.Errorf("not in cbreak mode while drawing: lflag %#x", during.Lflag)
			}
			q.quit(t, master)
			select {
			case c := <-code:
				if c != 0 {
					t.Errorf("exit status %d, stderr %q", c, stderr.String())
				}
			case <-time.After(15 * time.Second):
				t.Fatalf("%s did not end it; screen %q", q.name, scr.String())
			}
			after, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			if *after != *before {
				t.Errorf("terminal not restored:\nbefore %+v\nafter  %+v", *before, *after)
			}
			scr.waitFor(t, "the normal screen back", func(s string) bool { return strings.HasSuffix(s, leaveScreen+q.last) })
		})
	}
}
