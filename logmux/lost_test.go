package logmux

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// flakyOutput fails its first fails writes on /dev/full (a real ENOSPC from
// the kernel), then writes to a real file: a disk that fills up and frees.
type flakyOutput struct {
	fails int
	full  *os.File
	file  *os.File
}

func newFlakyOutput(t *testing.T, fails int) *flakyOutput {
	t.Helper()
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	file, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { full.Close(); file.Close() })
	return &flakyOutput{fails: fails, full: full, file: file}
}

func (f *flakyOutput) Write(p []byte) (int, error) {
	if f.fails > 0 {
		f.fails--
		return f.full.Write(p)
	}
	return f.file.Write(p)
}

func (f *flakyOutput) String() string {
	b, _ := os.ReadFile(f.file.Name())
	return string(b)
}

// lockedBuf is a goroutine-safe bytes.Buffer for Options.Errors.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

const enospc = "write /dev/full: no space left on device"

// Each failed write costs exactly its lines (a batch, an event, the pieces of
// a long line); the next write tries again and first reports the count, in
// the format of the runner's own lines; Errors hears once per streak.
func TestFailedWritesRetriedCountedReported(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fails  int
		feed   string // written in one Write while failing
		events int    // Printf calls while failing
		lost   int64
	}{
		{"one line", 1, "a\n", 0, 1},
		{"a batch", 1, "a\nb\nc\n", 0, 3},
		{"batches and events", 3, "a\nb\n", 1, 4},
		{"pieces of a long line", 1, strings.Repeat("x", 25) + "\n", 0, 3},
	} {
		for _, js := range []bool{false, true} {
			name := tc.name
			if js {
				name += "/json"
			}
			t.Run(name, func(t *testing.T) {
				out := newFlakyOutput(t, tc.fails)
				errs := &lockedBuf{}
				m := New(out, Options{JSON: js, MaxLine: 10, Errors: errs})
				w := m.Writer(Stream{Process: "web", Worker: 1, Stream: "stdout"})
				w.Write([]byte(tc.feed))
				for range tc.events {
					m.Printf("event")
				}
				for i := 1 + tc.events; i < tc.fails; i++ {
					w.Write([]byte("more\n"))
				}
				lines, err := m.Lost()
				if lines != tc.lost || err == nil || err.Error() != enospc {
					t.Fatalf("Lost() = %d, %v; want %d, %s", lines, err, tc.lost, enospc)
				}
				wantNotice := "cluster: output failed (" + enospc + "): discarding log lines until it works again\n"
				if errs.String() != wantNotice {
					t.Errorf("Errors got %q, want once %q", errs.String(), wantNotice)
				}
				w.Write([]byte("back\n"))
				w.Close()
				if lines, err := m.Lost(); lines != 0 || err != nil {
					t.Errorf("after the report, Lost() = %d, %v", lines, err)
				}
				if err := m.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
				msg := lostText(tc.lost, errors.New(enospc))
				got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
				if len(got) != 2 {
					t.Fatalf("output %q: want the report and the line", out.String())
				}
				if !js {
					want := []string{"cluster | " + msg, "web.1   | back"}
					if got[0] != want[0] || got[1] != want[1] {
						t.Errorf("output %q, want %q", got, want)
					}
					return
				}
				var ev map[string]any
				if err := json.Unmarshal([]byte(got[0]), &ev); err != nil {
					t.Fatalf("report %q: %v", got[0], err)
				}
				if ev["process"] != "cluster" || ev["event"] != "lost" || ev["lines"] != float64(tc.lost) ||
					ev["error"] != enospc || ev["message"] != msg || ev["time"] == nil {
					t.Errorf("report %s", got[0])
				}
			})
		}
	}
}

func TestLostTextPlural(t *testing.T) {
	e := errors.New("E")
	if s := lostText(1, e); s != "1 line lost: E" {
		t.Error(s)
	}
	if s := lostText(1234, e); s != "1234 lines lost: E" {
		t.Error(s)
	}
}

// Errors hears once per streak: a success ends the streak.
func TestErrorsNoticeOncePerStreak(t *testing.T) {
	out := newFlakyOutput(t, 2)
	errs := &lockedBuf{}
	m := New(out, Options{Errors: errs})
	w := m.Writer(Stream{Process: "web", Worker: 1})
	w.Write([]byte("a\n"))
	w.Write([]byte("b\n"))
	w.Write([]byte("c\n")) // the report and c go through
	out.fails = 1
	w.Write([]byte("d\n"))
	w.Write([]byte("e\n"))
	if n := strings.Count(errs.String(), "output failed"); n != 2 {
		t.Errorf("%d notices for two streaks: %q", n, errs.String())
	}
	want := "cluster | 2 lines lost: " + enospc + "\nweb.1   | c\ncluster | 1 line lost: " + enospc + "\nweb.1   | e\n"
	if out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
}

// shortOutput takes n bytes of its first write, then fails; then works.
type shortOutput struct {
	n   int
	buf bytes.Buffer
}

func (s *shortOutput) Write(p []byte) (int, error) {
	if s.n >= 0 {
		n := min(s.n, len(p))
		s.n = -1
		s.buf.Write(p[:n])
		return n, syscall.ENOSPC
	}
	return s.buf.Write(p)
}

// A write cut in the middle of a line: the cut line counts as lost, the ones
// before it do not, and the report starts on a line of its own.
func TestShortWriteCountsCutLineAndEndsIt(t *testing.T) {
	out := &shortOutput{n: len("web.1   | a\nweb.1   | b")}
	m := New(out, Options{})
	w := m.Writer(Stream{Process: "web", Worker: 1})
	w.Write([]byte("a\nb\nc\n"))
	if lines, _ := m.Lost(); lines != 2 {
		t.Errorf("lost %d, want 2 (b cut, c)", lines)
	}
	w.Write([]byte("d\n"))
	want := "web.1   | a\nweb.1   | b\ncluster | 2 lines lost: no space left on device\nweb.1   | d\n"
	if out.buf.String() != want {
		t.Errorf("output %q, want %q", out.buf.String(), want)
	}
}

// A pipe whose reader is gone: every line fails fast with EPIPE (the test
// binary gets the error, not SIGPIPE, as the pipe is not fd 1 or 2), the
// worker side never blocks, and Close reports to Errors and returns the loss.
func TestBrokenPipeCountedAndReportedByClose(t *testing.T) {
	r, wp, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	defer wp.Close()
	errs := &lockedBuf{}
	m := New(wp, Options{Errors: errs})
	w := m.Writer(Stream{Process: "web", Worker: 1})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 1000; i++ {
			if _, err := w.Write([]byte("line\n")); err != nil {
				t.Error(err)
				return
			}
		}
		m.Printf("runner line")
		w.Close()
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("writes blocked on a dead output")
	}
	lines, err := m.Lost()
	if lines != 1001 || !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("Lost() = %d, %v; want 1001, EPIPE", lines, err)
	}
	if n := strings.Count(errs.String(), "\n"); n != 1 || !strings.Contains(errs.String(), "broken pipe") {
		t.Errorf("Errors got %q, want one notice", errs.String())
	}
	cerr := m.Close()
	var le *LostError
	if !errors.As(cerr, &le) || le.Lines != 1001 || !errors.Is(cerr, syscall.EPIPE) {
		t.Fatalf("Close() = %v, want a LostError of 1001 lines wrapping EPIPE", cerr)
	}
	wantErrs := "cluster: 1001 lines lost: " + err.Error() + "\n"
	if !strings.HasSuffix(errs.String(), wantErrs) {
		t.Errorf("Errors got %q, want it to end with %q", errs.String(), wantErrs)
	}
	// Idempotent: nothing new to say, the same error.
	before := errs.String()
	if cerr2 := m.Close(); cerr2 == nil || cerr2.Error() != cerr.Error() {
		t.Errorf("second Close() = %v, want %v", cerr2, cerr)
	}
	if errs.String() != before {
		t.Errorf("second Close wrote %q", strings.TrimPrefix(errs.String(), before))
	}
}

// Close tries the report once more: if the output works by then, the report
// lands there and Close returns nil.
func TestCloseReportsToOutputWhenItWorks(t *testing.T) {
	out := newFlakyOutput(t, 1)
	errs := &lockedBuf{}
	m := New(out, Options{Errors: errs})
	m.Printf("lost")
	if err := m.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if want := "cluster | 1 line lost: " + enospc + "\n"; out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
	if strings.Contains(errs.String(), "lost") {
		t.Errorf("Errors got %q", errs.String())
	}
}

// scriptedOutput takes its writes by script: an entry k >= 0 writes k
// bytes and fails with ENOSPC, -1 (or the script's end) writes all.
type scriptedOutput struct {
	steps []int
	buf   bytes.Buffer
}

func (s *scriptedOutput) Write(p []byte) (int, error) {
	k := -1
	if len(s.steps) > 0 {
		k, s.steps = s.steps[0], s.steps[1:]
	}
	if k < 0 {
		return s.buf.Write(p)
	}
	k = min(k, len(p))
	s.buf.Write(p[:k])
	return k, syscall.ENOSPC
}

// A line cut by a failed write is ended before the next line, also when
// Close could not report the loss to the output (it told Errors instead)
// and the output works again afterwards: the next line is not glued to it.
func TestCutLineEndedAfterCloseReportedToErrors(t *testing.T) {
	out := &scriptedOutput{steps: []int{len("web.1   | a\nweb.1   | b"), 0}}
	var errs bytes.Buffer
	m := New(out, Options{Errors: &errs})
	w := m.Writer(Stream{Process: "web", Worker: 1})
	w.Write([]byte("a\nb\nc\n")) // cut inside b
	if err := m.Close(); err == nil {
		t.Errorf("Close: no error, want the 2 lost lines")
	}
	w.Write([]byte("d\n")) // the output works again
	if want := "web.1   | a\nweb.1   | b\nweb.1   | d\n"; out.buf.String() != want {
		t.Errorf("output %q, want %q", out.buf.String(), want)
	}
	if !strings.Contains(errs.String(), "2 lines lost") {
		t.Errorf("errors %q, want the 2 lost lines", errs.String())
	}
}
