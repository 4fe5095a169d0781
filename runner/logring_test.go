package runner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func ringTexts(t *testing.T, r *logRing, f lineFilter) []string {
	t.Helper()
	lines, _, _ := r.read(0, ringLines+1, f)
	var out []string
	for _, l := range lines {
		out = append(out, l.Line)
	}
	return out
}

// The ring keeps the last 1,000 lines while they are short.
func TestLogRingKeepsLastLines(t *testing.T) {
	r := newLogRing("web")
	now := time.Now().UnixNano()
	for i := range 5000 {
		r.add(i%3+1, 100+i%3, streamStdout, now, []byte(fmt.Sprintf("line %d", i)))
	}
	n, _, held := r.kept()
	if n != ringLines {
		t.Fatalf("kept %d lines, want %d", n, ringLines)
	}
	got := ringTexts(t, r, nil)
	if got[0] != "line 4000" || got[len(got)-1] != "line 4999" {
		t.Fatalf("kept %q .. %q, want line 4000 .. line 4999", got[0], got[len(got)-1])
	}
	if held > 64<<10 {
		t.Errorf("1,000 short lines hold %d bytes", held)
	}
	// PROCESS.N: only worker 2's lines, in order.
	for i, l := range ringTexts(t, r, lineFilter{2: true}) {
		var k int
		fmt.Sscanf(l, "line %d", &k)
		if k%3 != 1 || i > 0 && !strings.HasPrefix(l, "line ") {
			t.Fatalf("worker 2 filter let through %q", l)
		}
	}
}

// Long lines: at most 1 MiB of text is kept, and a line longer than
// ringMaxLine is cut; the newest lines are kept whole.
func TestLogRingBoundsBytes(t *testing.T) {
	r := newLogRing("web")
	now := time.Now().UnixNano()
	for i := range 300 {
		line := bytes.Repeat([]byte{byte('a' + i%26)}, 10000+i%7)
		r.add(1, 1, streamStderr, now, line)
	}
	n, text, held := r.kept()
	if text > ringBytes || n >= 300 {
		t.Fatalf("kept %d lines, %d bytes of text: want at most %d bytes", n, text, ringBytes)
	}
	if text < ringBytes-2*10007 {
		t.Errorf("kept only %d bytes of text of a %d-byte ring", text, ringBytes)
	}
	if held > ringBytes+ringLines*64 {
		t.Errorf("the ring holds %d bytes", held)
	}
	got := ringTexts(t, r, nil)
	last := got[len(got)-1]
	if len(last) != 10000+299%7 || last[0] != byte('a'+299%26) {
		t.Fatalf("newest line kept as %d bytes of %q", len(last), last[:1])
	}
	r.add(1, 1, streamStdout, now, bytes.Repeat([]byte("z"), 200<<10))
	got = ringTexts(t, r, nil)
	if l := len(got[len(got)-1]); l != ringMaxLine {
		t.Fatalf("a 200 KiB line is kept as %d bytes, want %d", l, ringMaxLine)
	}
	if _, text, _ := r.kept(); text > ringBytes {
		t.Fatalf("kept %d bytes of text", text)
	}
}

// Against a model, with lines of every size (empty ones too): the ring
// always holds the newest lines, whole, within both bounds.
func TestLogRingModel(t *testing.T) {
	r := newLogRing("web")
	var model []string
	rnd := rand.New(rand.NewPCG(1, 2))
	now := time.Now().UnixNano()
	for i := range 20000 {
		var n int
		switch rnd.IntN(4) {
		case 0:
			n = 0
		case 1:
			n = rnd.IntN(100)
		case 2:
			n = rnd.IntN(5000)
		default:
			n = rnd.IntN(70000)
		}
		line := strings.Repeat(string(rune('a'+i%26)), n) + fmt.Sprint(i)
		r.add(0, 0, streamStdout, now, []byte(line))
		if len(line) > ringMaxLine {
			line = line[:ringMaxLine]
		}
		model = append(model, line)
		if i%97 != 0 {
			continue
		}
		got := ringTexts(t, r, nil)
		want := model[len(model)-len(got):]
		for k := range got {
			if got[k] != want[k] {
				t.Fatalf("after %d lines: line %d of %d differs", i+1, k, len(got))
			}
		}
		size := 0
		for _, l := range got {
			size += len(l)
		}
		if len(got) > ringLines || size > ringBytes || len(got) == 0 {
			t.Fatalf("after %d lines: %d lines, %d bytes", i+1, len(got), size)
		}
		if len(got) < ringLines && len(got) < len(model) && size+len(model[len(model)-len(got)-1]) <= ringBytes/2 {
			t.Fatalf("after %d lines: dropped a line with room to spare (%d lines, %d bytes)", i+1, len(got), size)
		}
	}
}

// A reader that fell behind learns how many lines it missed; a follower is
// woken without the writer waiting for it.
func TestLogRingSkippedAndFollow(t *testing.T) {
	r := newLogRing("web")
	c := make(chan struct{}, 1)
	from := r.follow(c)
	defer r.unfollow(c)
	now := time.Now().UnixNano()
	for i := range 2500 {
		r.add(1, 1, streamStdout, now, []byte(fmt.Sprint(i)))
	}
	select {
	case <-c:
	default:
		t.Fatal("follower not woken")
	}
	lines, next, skipped := r.read(from, 10, nil)
	if skipped != 1500 || len(lines) != 10 || lines[0].Line != "1500" || next != 1510 {
		t.Fatalf("read: %d lines from %q, next %d, skipped %d; want 10 from \"1500\", next 1510, skipped 1500", len(lines), lines[0].Line, next, skipped)
	}
	if lines[0].Process != "web" || lines[0].Worker != 1 || lines[0].Stream != "stdout" || !lines[0].Time.Equal(time.Unix(0, now)) {
		t.Fatalf("line recorded as %+v", lines[0])
	}
}

// A follower that fell behind gets one marker with the count it missed,
// then the oldest kept lines in order, in batches; once the runner has
// ended and all is read, io.EOF.
func TestLogFeedSkippedMarker(t *testing.T) {
	r := &Runner{finished: make(chan struct{})}
	ring := newLogRing("web")
	f := &LogFeed{r: r, srcs: []*logSource{{ring: ring}}, wake: make(chan struct{}, 1), follow: true}
	ring.follow(f.wake)
	defer f.Close()
	now := time.Now().UnixNano()
	ring.add(1, 1, streamStdout, now, []byte("before"))
	if h := f.History(-1); len(h) != 1 || h[0].Line != "before" {
		t.Fatalf("history %+v", h)
	}
	for i := range 2500 {
		ring.add(1, 1, streamStdout, now, []byte(fmt.Sprint(i)))
	}
	var got []LogLine
	for len(got) < 1001 {
		lines, err := f.Next(nil)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, lines...)
	}
	if got[0].Skipped != 1500 || got[0].Process != "web" || got[1].Line != "1500" || got[1000].Line != "2499" || len(got) != 1001 {
		t.Fatalf("got %d lines: first %+v, second %+v, last %+v", len(got), got[0], got[1], got[len(got)-1])
	}
	close(r.finished)
	if lines, err := f.Next(nil); err != io.EOF || len(lines) > 0 {
		t.Fatalf("after the end: %d lines, %v", len(lines), err)
	}
	stop := make(chan struct{})
	close(stop)
	if _, err := (&LogFeed{r: &Runner{finished: make(chan struct{})}, wake: make(chan struct{})}).Next(stop); err != ErrLogsStopped {
		t.Fatalf("stopped: %v", err)
	}
}

// A line that is not valid UTF-8 crosses the control socket's JSON as its
// bytes too (Raw), not only with each bad byte made U+FFFD (Line).
func TestLogLineKeepsInvalidUTF8(t *testing.T) {
	r := newLogRing("web")
	now := time.Now().UnixNano()
	lines := []string{"bad \xff\xfe end", "é ok", "cut \xe6\x97", ""}
	for _, l := range lines {
		r.add(1, 42, streamStdout, now, []byte(l))
	}
	got, _, _ := r.read(0, 10, nil)
	for i, l := range got {
		b, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		var back LogLine
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if text := back.AppendLine(nil); string(text) != lines[i] {
			t.Errorf("%q came back as %q (%s)", lines[i], text, b)
		}
		if valid := utf8.ValidString(lines[i]); valid != (back.Raw == nil) {
			t.Errorf("%q: Line %q, Raw %q", lines[i], back.Line, back.Raw)
		}
	}
}
