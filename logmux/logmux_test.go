package logmux

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// syncBuf is a goroutine-safe output that also counts Write calls.
type syncBuf struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestConcurrentWritersLinesIntactAndOrdered(t *testing.T) {
	out := &syncBuf{}
	// No timer flush here: a partial line printed after its 100ms wait would
	// look torn to this checker (that behaviour has its own test).
	m := New(out, Options{FlushAfter: time.Hour})
	const writers, lines = 16, 2000
	var wg sync.WaitGroup
	for w := 1; w <= writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wr := m.Writer(Stream{Process: "web", Worker: w, Stream: "stdout"})
			// Write in odd-sized chunks that cut lines anywhere.
			var all bytes.Buffer
			for i := 0; i < lines; i++ {
				fmt.Fprintf(&all, "w%02d line %05d %s\n", w, i, strings.Repeat("x", i%50))
			}
			b := all.Bytes()
			for len(b) > 0 {
				n := 1 + (len(b)*7)%97
				if n > len(b) {
					n = len(b)
				}
				wr.Write(b[:n])
				b = b[n:]
			}
			wr.Close()
		}()
	}
	wg.Wait()
	next := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		l := sc.Text()
		var label, w string
		var i int
		var xs string
		if n, _ := fmt.Sscanf(l, "%s | %s line %05d %s", &label, &w, &i, &xs); n < 3 {
			t.Fatalf("torn or malformed line: %q", l)
		}
		if label != "web."+strings.TrimLeft(w[1:], "0") {
			t.Fatalf("line of %s under label %s: %q", w, label, l)
		}
		if i != next[w] || len(xs) != i%50 && !(i%50 == 0 && xs == "") {
			t.Fatalf("%s: got line %d (%q), want %d", w, i, l, next[w])
		}
		next[w]++
	}
	for w := 1; w <= writers; w++ {
		if k := fmt.Sprintf("w%02d", w); next[k] != lines {
			t.Errorf("%s: %d lines, want %d", k, next[k], lines)
		}
	}
}

func TestPaddingAndColor(t *testing.T) {
	var out bytes.Buffer
	m := New(&out, Options{})
	m.SetNames("web.1", "worker.10")
	w := m.Writer(Stream{Process: "web", Worker: 1, Stream: "stdout"})
	w.Write([]byte("hello\n"))
	m.Event(Event{Worker: "web.1", Event: "exited", Status: ptr(3)})
	want := "web.1     | hello\ncluster   | web.1 exited (status 3)\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}

	out.Reset()
	m = New(&out, Options{Color: true})
	m.Writer(Stream{Process: "web", Worker: 1}).Write([]byte("a \x1b[31mred\x1b[0m line\n"))
	m.Writer(Stream{Process: "jobs", Worker: 1}).Write([]byte("b\n"))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if !strings.HasPrefix(lines[0], "\x1b[0m\x1b[36m") || !strings.HasSuffix(lines[0], "a \x1b[31mred\x1b[0m line") {
		t.Errorf("colored prefix or passthrough wrong: %q", lines[0])
	}
	if !strings.HasPrefix(lines[1], "\x1b[0m\x1b[33m") {
		t.Errorf("second type should get the second color: %q", lines[1])
	}
}

func ptr(i int) *int { return &i }

func TestPartialLineFlushedAfterWaitAndAtClose(t *testing.T) {
	out := &syncBuf{}
	m := New(out, Options{FlushAfter: 30 * time.Millisecond})
	w := m.Writer(Stream{Process: "web", Worker: 1})
	w.Write([]byte("prompt> "))
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "prompt> \n") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "web.1   | prompt> \n") {
		t.Fatalf("partial line not flushed after the wait: %q", out.String())
	}
	w.Write([]byte("tail without newline"))
	w.Close()
	if !strings.HasSuffix(out.String(), "| tail without newline\n") {
		t.Errorf("Close did not flush the partial line: %q", out.String())
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Errorf("Write after Close succeeded")
	}
}

func TestLongLinesInPiecesNothingLost(t *testing.T) {
	var out bytes.Buffer
	m := New(&out, Options{})
	w := m.Writer(Stream{Process: "web", Worker: 1})
	line := make([]byte, 1<<20)
	for i := range line {
		line[i] = 'a' + byte(i%26)
	}
	w.Write(line[:1000])
	w.Write(line[1000:])
	w.Write([]byte("\n"))
	w.Close()
	var got []byte
	pieces := 0
	for _, l := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		p, ok := strings.CutPrefix(l, "web.1   | ")
		if !ok {
			t.Fatalf("piece without prefix: %q", l[:40])
		}
		if len(p) > 64<<10 {
			t.Fatalf("piece of %d bytes", len(p))
		}
		got = append(got, p...)
		pieces++
	}
	if !bytes.Equal(got, line) || pieces != 16 {
		t.Errorf("pieces %d, bytes equal %v (%d vs %d)", pieces, bytes.Equal(got, line), len(got), len(line))
	}
}

func TestJSON(t *testing.T) {
	var out bytes.Buffer
	now := time.Date(2026, 11, 22, 10, 0, 0, 123e6, time.UTC)
	m := New(&out, Options{JSON: true, Now: func() time.Time { return now }})
	w := m.Writer(Stream{Process: "web", Worker: 1, PID: 4242, Stream: "stderr"})
	w.Write([]byte("quote \" back\\slash \x1b[31mansi\x1b[0m bad \xff\xfe utf8 é\r\n"))
	m.Event(Event{Worker: "web.2", Event: "exited", PID: 7, Status: ptr(1), Message: "web.2 exited (status 1)", Fields: map[string]any{"delay_ms": int64(400)}})
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := `{"time":"2026-11-22T10:00:00.123Z","process":"web","worker":1,"pid":4242,"stream":"stderr","line":"quote \" back\\slash \u001b[31mansi\u001b[0m bad \ufffd\ufffd utf8 é"}`
	if lines[0] != want {
		t.Errorf("got  %s\nwant %s", lines[0], want)
	}
	for _, l := range lines {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Errorf("invalid JSON %q: %v", l, err)
		}
	}
	var ev map[string]any
	json.Unmarshal([]byte(lines[1]), &ev)
	if ev["process"] != "cluster" || ev["event"] != "exited" || ev["target"] != "web.2" || ev["target_process"] != "web" ||
		ev["worker"] != 2.0 || ev["status"] != 1.0 || ev["delay_ms"] != 400.0 {
		t.Errorf("event JSON: %s", lines[1])
	}
}

// "worker" has one type in every line (an integer), so log stores that map
// fields by their first value (Elasticsearch, Loki) accept every line.
func TestJSONWorkerField(t *testing.T) {
	var out bytes.Buffer
	m := New(&out, Options{JSON: true})
	m.Writer(Stream{Process: "web", Worker: 3, Stream: "stdout"}).Write([]byte("hi\n"))
	for _, target := range []string{"web.2", "web", "", "my-app_2.10"} {
		m.Event(Event{Worker: target, Event: "ready"})
	}
	m.Printf("free text")
	want := []map[string]any{
		{"process": "web", "worker": 3.0},
		{"target": "web.2", "target_process": "web", "worker": 2.0},
		{"target": "web", "target_process": "web"},
		{},
		{"target": "my-app_2.10", "target_process": "my-app_2", "worker": 10.0},
		{},
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, l := range lines {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("invalid JSON %q: %v", l, err)
		}
		for _, k := range []string{"worker", "target", "target_process"} {
			if _, has := v[k]; has != (want[i][k] != nil) || has && v[k] != want[i][k] {
				t.Errorf("line %d %s: got %v, want %v (%s)", i, k, v[k], want[i][k], l)
			}
		}
	}
}

func TestOnLineHook(t *testing.T) {
	var got []string
	m := New(io.Discard, Options{})
	w := m.Writer(Stream{Process: "web", Worker: 1, OnLine: func(l []byte) { got = append(got, string(l)) }})
	w.Write([]byte("a\nb"))
	w.Write([]byte("c\n"))
	w.Close()
	if strings.Join(got, ",") != "a,bc" {
		t.Errorf("OnLine saw %q", got)
	}
}

// blockingWriter accepts a write only when told to.
type blockingWriter struct {
	gate chan struct{}
	n    int
}

func (b *blockingWriter) Write(p []byte) (int, error) {
	<-b.gate
	b.n += len(p)
	return len(p), nil
}

func TestBackPressureBoundsMemory(t *testing.T) {
	bw := &blockingWriter{gate: make(chan struct{})}
	m := New(bw, Options{})
	w := m.Writer(Stream{Process: "web", Worker: 1})
	done := make(chan struct{})
	var written atomic.Int64
	go func() {
		defer close(done)
		line := []byte(strings.Repeat("x", 99) + "\n")
		for i := 0; i < 100000; i++ {
			w.Write(line)
			written.Add(1)
		}
	}()
	// The producer is stuck on the first write; nothing piles up.
	select {
	case <-done:
		t.Fatal("writes did not block on a blocked output")
	case <-time.After(50 * time.Millisecond):
	}
	for range 100 {
		bw.gate <- struct{}{}
	}
	if n := written.Load(); n > 101 {
		t.Errorf("the producer got %d writes ahead of a blocked output", n)
	}
	close(bw.gate)
	<-done
	if c := cap(w.(*writer).partial); c > maxIdlePartial {
		t.Errorf("an idle writer keeps a %d-byte buffer", c)
	}
	w.Close()
	if bw.n != 100000*(100+len("web.1   | ")) {
		t.Errorf("output %d bytes, want every line", bw.n)
	}
}

func TestDeadOutputDoesNotBlock(t *testing.T) {
	r, wp, _ := os.Pipe()
	r.Close()
	m := New(wp, Options{})
	w := m.Writer(Stream{Process: "web", Worker: 1})
	for i := 0; i < 1000; i++ {
		if _, err := w.Write([]byte("line\n")); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
}

// A partial line whose rest already waits in the worker's pipe is not
// printed on its own when the flush wait passes (its reader was only late,
// on a busy machine): a torn line. Once nothing is pending, it is.
func TestPartialLineKeptWhileMoreIsPending(t *testing.T) {
	out := &syncBuf{}
	var pending atomic.Bool
	pending.Store(true)
	now := time.Unix(0, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	m := New(out, Options{FlushAfter: time.Hour, Now: clock})
	w := m.Writer(Stream{Process: "web", Worker: 1, Pending: pending.Load}).(*writer)
	w.Write([]byte("58"))
	mu.Lock()
	now = now.Add(2 * time.Hour) // the wait has passed
	mu.Unlock()
	w.flushPartial() // as the timer does
	if s := out.String(); s != "" {
		t.Fatalf("a partial line with more pending was printed: %q", s)
	}
	w.Write([]byte("43\n"))
	if s := out.String(); s != "web.1   | 5843\n" {
		t.Fatalf("output %q, want the whole line", s)
	}
	// Nothing pending: a prompt is printed when the wait passes.
	pending.Store(false)
	w.Write([]byte("prompt> "))
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	w.flushPartial()
	if s := out.String(); !strings.HasSuffix(s, "web.1   | prompt> \n") {
		t.Fatalf("output %q, want the prompt flushed", s)
	}
	w.Close()
}

// TestTextLinesAnyChunking writes random text (empty lines, "\r\n" ends,
// lines longer than MaxLine, a last line without its newline) in random
// pieces, and checks the output and OnLine against the rule: a final "\r"
// dropped, each line cut into MaxLine pieces, each printed after the prefix
// (and the clock with Timestamps). Whole lines take appendText's fast path,
// the rest the general one, and the two must agree wherever a Write splits.
func TestTextLinesAnyChunking(t *testing.T) {
	const max = 40
	now := time.Date(2026, 12, 7, 10, 0, 0, 123e6, time.Local)
	for trial := 0; trial < 300; trial++ {
		rnd := rand.New(rand.NewPCG(uint64(trial), 7))
		var in []byte
		for n := rnd.IntN(30); n > 0; n-- {
			k := rnd.IntN(3 * max)
			if rnd.IntN(4) == 0 {
				k = rnd.IntN(3)
			}
			for range k {
				in = append(in, "abc\r\t é"[rnd.IntN(8)])
			}
			if rnd.IntN(5) == 0 {
				in = append(in, '\r')
			}
			in = append(in, '\n')
		}
		in = append(in, bytes.Repeat([]byte("z"), rnd.IntN(2*max))...)

		stamps := trial%2 == 1
		var want []string
		lines := strings.Split(string(in), "\n")
		for i, l := range lines {
			if i < len(lines)-1 {
				l = strings.TrimSuffix(l, "\r")
			} else if l == "" {
				break // no last partial line
			}
			for len(l) > max {
				want = append(want, l[:max])
				l = l[max:]
			}
			want = append(want, l)
		}

		var out bytes.Buffer
		var seen []string
		m := New(&out, Options{MaxLine: max, Timestamps: stamps, Now: func() time.Time { return now }})
		w := m.Writer(Stream{Process: "web", Worker: 1, OnLine: func(l []byte) { seen = append(seen, string(l)) }})
		for p := in; len(p) > 0; {
			k := min(len(p), 1+rnd.IntN(4*max))
			if _, err := w.Write(p[:k]); err != nil {
				t.Fatal(err)
			}
			p = p[k:]
		}
		w.Close()

		head := "web.1   | "
		if stamps {
			head = "10:00:00.123 " + head
		}
		var wantOut strings.Builder
		for _, l := range want {
			wantOut.WriteString(head + l + "\n")
		}
		if out.String() != wantOut.String() {
			t.Fatalf("trial %d: input %q\ngot:\n%s\nwant:\n%s", trial, in, out.String(), wantOut.String())
		}
		if fmt.Sprint(seen) != fmt.Sprint(want) {
			t.Fatalf("trial %d: OnLine saw %q, want %q", trial, seen, want)
		}
	}
}

// A line of exactly MaxLine bytes (or a multiple) that ends in "\r\n" is
// that many pieces, with no empty line after them, however the writes cut
// it (also between the '\r' and the '\n'); in text and JSON, and OnLine
// sees the same pieces. A '\r' that turns out not to end the line is kept,
// and one still waiting for its '\n' at Close is printed.
func TestCRLFAfterFullPiece(t *testing.T) {
	const max = 16
	a := strings.Repeat("a", max)
	tests := []struct {
		in   string
		want []string
	}{
		{a + "\r\nnext\n", []string{a, "next"}},
		{a + a + "\r\nnext\n", []string{a, a, "next"}},
		{a + "\rb\r\n", []string{a, "\rb"}},
		{a + "\r", []string{a, "\r"}},
		{a + "b\r\n", []string{a, "b"}},
	}
	for _, json := range []bool{false, true} {
		for _, tt := range tests {
			for cut := 0; cut <= len(tt.in); cut++ {
				var out bytes.Buffer
				var seen []string
				m := New(&out, Options{JSON: json, MaxLine: max, FlushAfter: time.Hour})
				w := m.Writer(Stream{Process: "web", Worker: 1, OnLine: func(l []byte) { seen = append(seen, string(l)) }})
				w.Write([]byte(tt.in[:cut]))
				w.Write([]byte(tt.in[cut:]))
				w.Close()
				var got []string
				for _, l := range strings.SplitAfter(out.String(), "\n") {
					if l == "" {
						continue
					}
					if json {
						var v struct{ Line string }
						if err := jsonUnmarshal([]byte(l), &v); err != nil {
							t.Fatalf("%q: %v", l, err)
						}
						got = append(got, v.Line)
					} else {
						got = append(got, strings.TrimSuffix(strings.TrimPrefix(l, "web.1   | "), "\n"))
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.want) || fmt.Sprint(seen) != fmt.Sprint(tt.want) {
					t.Errorf("json %v, %q cut at %d: printed %q, OnLine %q, want %q", json, tt.in, cut, got, seen, tt.want)
				}
			}
		}
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// Colors go by the order SetProcesses gives (the Clusterfile's), not by
// which type prints first; a type not given gets the next color.
func TestColorsInProcessOrder(t *testing.T) {
	var out bytes.Buffer
	m := New(&out, Options{Color: true})
	m.SetProcesses("web", "jobs")
	m.Writer(Stream{Process: "late", Worker: 1}).Write([]byte("c\n"))
	m.Writer(Stream{Process: "jobs", Worker: 1}).Write([]byte("b\n"))
	m.Writer(Stream{Process: "web", Worker: 1}).Write([]byte("a\n"))
	want := "\x1b[0m\x1b[32mlate.1  |\x1b[0m c\n\x1b[0m\x1b[33mjobs.1  |\x1b[0m b\n\x1b[0m\x1b[36mweb.1   |\x1b[0m a\n"
	if out.String() != want {
		t.Errorf("got  %q\nwant %q", out.String(), want)
	}
}

// A pty's ONLCR turns an app's "\r\n" into "\r\r\n": on a "tty" stream every
// CR before the newline goes, in every format and however the bytes arrive;
// a pipe's line keeps all but the one of its CRLF.
func TestTTYLineLosesEveryCR(t *testing.T) {
	const in = "b\r\r\nc\r\n\r\r\nd\n"
	for _, opts := range []Options{{}, {Terminal: true}, {JSON: true}} {
		for _, stream := range []string{"tty", "stdout"} {
			want := []string{"b", "c", "", "d"}
			if stream == "stdout" {
				want = []string{"b\r", "c", "\r", "d"}
			}
			for cut := 0; cut <= len(in); cut++ {
				var out bytes.Buffer
				var seen []string
				opts.FlushAfter = time.Hour
				m := New(&out, opts)
				w := m.Writer(Stream{Process: "t", Worker: 1, Stream: stream, OnLine: func(l []byte) { seen = append(seen, string(l)) }})
				w.Write([]byte(in[:cut]))
				w.Write([]byte(in[cut:]))
				w.Close()
				if !slices.Equal(seen, want) {
					t.Fatalf("%+v %s, cut at %d: lines %q, want %q", opts, stream, cut, seen, want)
				}
				if stream == "tty" && strings.Contains(out.String(), "\r") {
					t.Fatalf("%+v tty, cut at %d: output keeps a CR: %q", opts, cut, out.String())
				}
			}
		}
	}
}
