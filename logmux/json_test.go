package logmux

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// encodingJSON is what encoding/json writes for s, with no HTML escaping and
// \b, \f in the \u form appendJSONString uses.
func encodingJSON(t *testing.T, s []byte) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(string(s)); err != nil {
		t.Fatal(err)
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	var out []byte
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			out = append(out, b[i])
			continue
		}
		i++
		switch b[i] {
		case 'b':
			out = append(out, `\u0008`...)
		case 'f':
			out = append(out, `\u000c`...)
		default:
			out = append(out, '\\', b[i])
		}
	}
	return out
}

// Random lines, mostly plain ASCII with quotes, backslashes, controls, DEL,
// valid and invalid UTF-8, U+2028/9 and cut runes mixed in at every offset
// of the eight-byte scan, escape exactly as encoding/json does.
func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	pieces := []string{"\"", "\\", "\x00", "\x01", "\b", "\f", "\n", "\r", "\t", "\x1b[31m", "\x1f", " ", "\x7f",
		"é", "日本", "😀", "\u2028", "\u2029", "\xff", "\xfe", "\xc3", "\xe6\x97", "\xed\xa0\x80", "\xf4\x90\x80\x80", "<&>"}
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 20000; n++ {
		var line []byte
		for len(line) < rng.IntN(100) {
			if rng.IntN(4) == 0 {
				line = append(line, pieces[rng.IntN(len(pieces))]...)
			} else {
				line = append(line, byte('!'+rng.IntN(94)))
			}
		}
		if n%7 == 0 { // any byte at all
			line = append(line, byte(rng.IntN(256)))
		}
		got := appendJSONString(nil, string(line))
		if want := encodingJSON(t, line); !bytes.Equal(got, want) {
			t.Fatalf("line %q\ngot  %s\nwant %s", line, got, want)
		}
	}
	for c := 0; c < 256; c++ { // each byte at each position of a word
		for pos := 0; pos < 17; pos++ {
			line := []byte(strings.Repeat("a", pos) + string([]byte{byte(c)}) + "bcdefghijklmnop")
			if got, want := appendJSONString(nil, string(line)), encodingJSON(t, line); !bytes.Equal(got, want) {
				t.Fatalf("line %q\ngot  %s\nwant %s", line, got, want)
			}
		}
	}
}

func TestPlainJSON(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 17; pos++ {
			b := []byte(strings.Repeat("x", pos) + string([]byte{byte(c)}) + strings.Repeat("y", 9))
			want := len(b)
			if c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
				want = pos
			}
			if got := plainJSON(b); got != want {
				t.Fatalf("byte %#x at %d: got %d, want %d", c, pos, got, want)
			}
			if c < 0x20 || c >= 0x80 || c == '"' || c == '\\' { // last, after pos plain bytes
				if got := plainJSON(b[:pos+1]); got != pos {
					t.Fatalf("byte %#x last at %d: got %d", c, pos, got)
				}
			}
		}
	}
}

// needsEscape says, byte by byte, what plainJSON finds eight bytes at a time.
func needsEscape(c byte) bool { return c < 0x20 || c >= 0x80 || c == '"' || c == '\\' }

// plainJSON (in assembly on amd64) and plainJSONGo return exactly the first
// byte that needs escaping, at every offset of their 32-, 16- and 8-byte
// blocks and of their overlapping last block, with any bytes after it (more
// specials too: a borrow must not move the answer).
func TestPlainJSONFindsFirstSpecial(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := 0; n <= 100; n++ {
		for pos := 0; pos <= n; pos++ { // pos == n: no special
			for c := 0; c < 256; c++ {
				if pos < n && !needsEscape(byte(c)) {
					continue
				}
				b := make([]byte, n)
				for i := range b {
					switch {
					case i < pos:
						b[i] = byte(0x20 + rng.IntN(0x60))
						if needsEscape(b[i]) {
							b[i] = 'x'
						}
					case i == pos:
						b[i] = byte(c)
					default:
						b[i] = byte(rng.IntN(256))
					}
				}
				if got := plainJSON(b); got != pos {
					t.Fatalf("%q: got %d, want %d", b, got, pos)
				}
				if got := plainJSONGo(b); got != pos {
					t.Fatalf("%q: plainJSONGo got %d, want %d", b, got, pos)
				}
				if pos == n {
					break
				}
			}
		}
	}
}

// appendPlainJSON takes the lines ended by "\n" or "\r\n" that need no
// escaping and fit in max bytes (a '\r' counted, as Write cuts before
// trimCR), and stops at any other, saying how many plain bytes it starts with
// (up to max+1).
func TestAppendPlainJSON(t *testing.T) {
	type tc struct {
		p           string
		max         int
		took, plain int
		lines       []string
	}
	x100 := strings.Repeat("x", 100)
	for _, c := range []tc{
		{"abc\n", 10, 4, 0, []string{"abc"}},
		{"abc\ndef\n", 10, 8, 0, []string{"abc", "def"}},
		{"\n", 10, 1, 0, []string{""}},
		{"\r\n", 10, 2, 0, []string{""}},
		{"abc\r\nx", 10, 5, 1, []string{"abc"}},
		{"abc", 10, 0, 3, nil},       // no end yet
		{"abc\r", 10, 0, 3, nil},     // the '\n' may follow in the next Write
		{"a\rb\n", 10, 0, 1, nil},    // a '\r' inside is escaped
		{"abc\r\r\n", 10, 0, 3, nil}, // only one '\r' is trimmed
		{"a\"c\n", 10, 0, 1, nil},
		{"a\\c\n", 10, 0, 1, nil},
		{"a\tc\n", 10, 0, 1, nil},
		{"aé\n", 10, 0, 1, nil},
		{"ab\ncd\"\n", 10, 3, 2, []string{"ab"}},
		{"abcdefghij\n", 10, 11, 0, []string{"abcdefghij"}}, // exactly max
		{"abcdefghijk\n", 10, 0, 11, nil},                   // cut in pieces by the slow path: max+1 plain bytes seen
		{"abcdefghi\r\n", 10, 11, 0, []string{"abcdefghi"}},
		{"abcdefghij\r\n", 10, 0, 10, nil}, // the '\r' is the 11th byte: a piece of its own
		{x100 + "\n", 100, 101, 0, []string{x100}},
		{x100 + "\n", 99, 0, 100, nil},
		{x100 + "\n" + x100 + "\r\n", math.MaxInt, 203, 0, []string{x100, x100}},
	} {
		m := New(io.Discard, Options{JSON: true})
		w := m.Writer(Stream{Process: "web", Worker: 1, Stream: "stdout"}).(*writer)
		out, took, plain := w.appendPlainJSON(nil, []byte(c.p), c.max)
		if took != c.took || plain != c.plain {
			t.Errorf("appendPlainJSON(%q, %d) took %d, plain %d; want %d, %d", c.p, c.max, took, plain, c.took, c.plain)
		}
		var lines []string
		for _, l := range strings.SplitAfter(string(out), "\n") {
			if l == "" {
				continue
			}
			var v struct{ Line string }
			if err := json.Unmarshal([]byte(l), &v); err != nil || !strings.HasSuffix(l, "\n") {
				t.Fatalf("appendPlainJSON(%q): line %q: %v", c.p, l, err)
			}
			lines = append(lines, v.Line)
		}
		if !slices.Equal(lines, c.lines) {
			t.Errorf("appendPlainJSON(%q, %d) wrote %q; want %q", c.p, c.max, lines, c.lines)
		}
	}
}

// splitLines is what Write and Close make of a stream: lines at each "\n",
// one '\r' trimmed from a line that has its "\n", then cut in pieces of max
// bytes; a last line without one in pieces, untrimmed.
func splitLines(data []byte, max int) [][]byte {
	var lines [][]byte
	for len(data) > 0 {
		line, rest, ended := bytes.Cut(data, []byte("\n"))
		data = rest
		if ended {
			line = bytes.TrimSuffix(line, []byte("\r"))
		}
		for len(line) > max {
			// JSON cuts before a character whose encoding is not complete
			// within the piece, unless it starts the piece.
			k := max
			for i := max - 1; i > 0 && i > max-utf8.UTFMax; i-- {
				if utf8.RuneStart(line[i]) {
					if !utf8.FullRune(line[i:max]) {
						k = i
					}
					break
				}
			}
			lines = append(lines, line[:k])
			line = line[k:]
		}
		if ended || len(line) > 0 {
			lines = append(lines, line)
		}
	}
	return lines
}

// Streams of mostly plain lines (the fast path) mixed with lines that need
// escaping (the slow path), CRLF ends, lines around MaxLine, and multi-byte
// runes, written in random pieces (cutting lines and runes anywhere), print
// exactly the lines encoding/json writes, and OnLine sees each one.
func TestJSONLinesMatchEncodingJSON(t *testing.T) {
	pieces := []string{"\"", "\\", "\x00", "\b", "\f", "\t", "\r", "\x1b[31m", "\x7f", "é", "日本", "😀", "\u2028",
		"\xff", "\xc3", "\xe6\x97", "\xed\xa0\x80", "<&>"}
	rng := rand.New(rand.NewPCG(5, 6))
	now := time.Date(2026, 11, 22, 10, 0, 0, 123e6, time.UTC)
	head := `{"time":"2026-11-22T10:00:00.123Z","process":"web","worker":3,"pid":42,"stream":"stdout","line":`
	for round := 0; round < 240; round++ {
		max := []int{1, 2, 7, 8, 9, 31, 32, 33, 60, 64, 100, 64 << 10}[round%12]
		var data []byte
		for n := rng.IntN(200); n > 0; n-- {
			var line []byte
			size := rng.IntN(120)
			if max <= 100 && rng.IntN(4) == 0 {
				size = max - 1 + rng.IntN(3) // around MaxLine
			}
			for len(line) < size {
				line = append(line, byte(' '+rng.IntN(95)))
				if needsEscape(line[len(line)-1]) {
					line[len(line)-1] = '.'
				}
			}
			if rng.IntN(3) == 0 { // escapes somewhere in a third of the lines
				i := rng.IntN(len(line) + 1)
				line = append(line[:i], append([]byte(pieces[rng.IntN(len(pieces))]), line[i:]...)...)
			}
			if rng.IntN(5) == 0 {
				line = append(line, '\r')
			}
			data = append(append(data, line...), '\n')
		}
		if rng.IntN(2) == 0 { // a last line without its "\n"
			data = append(data, "tail é"...)
		}
		var out bytes.Buffer
		var seen [][]byte
		m := New(&out, Options{JSON: true, MaxLine: max, FlushAfter: time.Hour, Now: func() time.Time { return now }})
		w := m.Writer(Stream{Process: "web", Worker: 3, PID: 42, Stream: "stdout",
			OnLine: func(l []byte) { seen = append(seen, bytes.Clone(l)) }})
		for p := data; len(p) > 0; {
			k := min(len(p), 1+rng.IntN(3*max+10))
			w.Write(p[:k])
			p = p[k:]
		}
		w.Close()
		var want bytes.Buffer
		lines := splitLines(data, max)
		for _, l := range lines {
			want.WriteString(head)
			want.Write(encodingJSON(t, l))
			want.WriteString("}\n")
		}
		if !bytes.Equal(out.Bytes(), want.Bytes()) {
			g, w := strings.Split(out.String(), "\n"), strings.Split(want.String(), "\n")
			for i := range min(len(g), len(w)) {
				if g[i] != w[i] {
					t.Fatalf("max %d, line %d:\ngot  %s\nwant %s", max, i, g[i], w[i])
				}
			}
			t.Fatalf("max %d: %d lines, want %d", max, len(g), len(w))
		}
		if len(seen) != len(lines) {
			t.Fatalf("max %d: OnLine saw %d lines, want %d", max, len(seen), len(lines))
		}
		for i := range lines {
			if !bytes.Equal(seen[i], lines[i]) {
				t.Fatalf("max %d: OnLine saw %q, want %q", max, seen[i], lines[i])
			}
		}
	}
}

// A rune of two to four bytes, or an escape, at every offset of the scan's
// words, with the line given in two Writes cut at every byte: each line is
// what encoding/json writes.
func TestJSONRunesCutAnywhere(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 123e6, time.UTC)
	head := `{"time":"2026-11-22T10:00:00.123Z","process":"web","worker":1,"stream":"stdout","line":`
	for _, piece := range []string{"é", "日", "😀", "\u2028", "\xe6\x97", "\"", "\t", "\r"} {
		for off := 0; off < 40; off++ {
			line := []byte(strings.Repeat("x", off) + piece + strings.Repeat("y", 37-off%8))
			data := append(bytes.Clone(line), "\nnext\n"...)
			want := head + string(encodingJSON(t, line)) + "}\n" + head + `"next"}` + "\n"
			for cut := 0; cut <= len(data); cut++ {
				var out bytes.Buffer
				m := New(&out, Options{JSON: true, FlushAfter: time.Hour, Now: func() time.Time { return now }})
				w := m.Writer(Stream{Process: "web", Worker: 1, Stream: "stdout"})
				w.Write(data[:cut])
				w.Write(data[cut:])
				w.Close()
				if out.String() != want {
					t.Fatalf("%q cut at %d:\ngot  %s\nwant %s", data, cut, out.String(), want)
				}
			}
		}
	}
}

// The time is read once per Write, formatted once per millisecond, and
// stays right across milliseconds.
func TestJSONTimePerMillisecond(t *testing.T) {
	var out bytes.Buffer
	base := time.Date(2026, 11, 22, 10, 0, 0, 123e6, time.UTC)
	var now time.Time
	reads := 0
	m := New(&out, Options{JSON: true, Now: func() time.Time { reads++; return now }})
	w := m.Writer(Stream{Process: "web", Worker: 1, Stream: "stdout"})
	for _, d := range []time.Duration{0, 500 * time.Microsecond, time.Millisecond, time.Hour, -time.Millisecond, -time.Microsecond} {
		now = base.Add(d).In(time.FixedZone("X", 3600))
		w.Write([]byte("l\n"))
	}
	// The lines of one Write arrived together: one clock read.
	w.Write([]byte("a\nb\nc\n"))
	w.Close()
	if reads != 7 {
		t.Errorf("%d clock reads for 7 writes", reads)
	}
	var times []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var v struct{ Time string }
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatal(err)
		}
		times = append(times, v.Time)
	}
	want := []string{"2026-11-22T10:00:00.123Z", "2026-11-22T10:00:00.123Z", "2026-11-22T10:00:00.124Z",
		"2026-11-22T11:00:00.123Z", "2026-11-22T10:00:00.122Z", "2026-11-22T10:00:00.122Z",
		"2026-11-22T10:00:00.122Z", "2026-11-22T10:00:00.122Z", "2026-11-22T10:00:00.122Z"}
	if strings.Join(times, " ") != strings.Join(want, " ") {
		t.Errorf("times %v\nwant  %v", times, want)
	}
}

var raceEnabled bool // race_test.go

// Formatting lines allocates nothing, in either format.
func TestWriteAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops buffers at random under the race detector")
	}
	// Plain lines (JSON's fast path), lines to escape, CRLF, a line longer
	// than MaxLine, and a line cut between two Writes.
	data := bytes.Repeat([]byte("a line of plain text\n\"quoted\" and é\r\n\x1b[1mbold\x1b[0m\n"), 30)
	data = append(data, bytes.Repeat([]byte("long "), 300)...)
	data = append(data, "\nthe start of a line"...)
	for _, opts := range []Options{{}, {Terminal: true}, {JSON: true}, {Timestamps: true}} {
		var out bytes.Buffer
		opts.MaxLine = 1000
		opts.FlushAfter = time.Hour // no timer: Write allocates nothing but the first timer of a partial line
		m := New(&out, opts)
		w := m.Writer(Stream{Process: "web", Worker: 1, PID: 42, Stream: "stdout"})
		w.Write(data)
		allocs := testing.AllocsPerRun(100, func() {
			out.Reset()
			w.Write(data)
		})
		if allocs > 0 {
			t.Errorf("%+v: %.1f allocations per Write of 92 lines", opts, allocs)
		}
		if n := strings.Count(out.String(), "\n"); n != 92 {
			t.Errorf("%+v: %d lines per Write, want 92", opts, n)
		}
	}
}

// A writer that printed a long partial line keeps no large buffer once the
// line is out.
func TestIdleWriterReleasesBuffers(t *testing.T) {
	var out bytes.Buffer
	m := New(&out, Options{FlushAfter: time.Hour})
	w := m.Writer(Stream{Process: "web", Worker: 1}).(*writer)
	long := bytes.Repeat([]byte("x"), 100<<10)
	w.Write(long[:50<<10])
	w.Write(long[50<<10:])
	w.Write([]byte("\n"))
	if c := cap(w.partial); c > maxIdlePartial {
		t.Errorf("after a long line the writer keeps %d bytes", c)
	}
	w.Write([]byte("partial"))
	w.Close()
	if c := cap(w.partial); c > maxIdlePartial {
		t.Errorf("after Close the writer keeps %d bytes", c)
	}
	if got := strings.Count(out.String(), "\n"); got != 3 { // 64 KiB piece, the rest, "partial"
		t.Errorf("%d lines, want 3", got)
	}
}

// MaxLine = math.MaxInt means no limit: the JSON fast path must not
// overflow computing its scan window.
func TestMaxLineMaxIntJSON(t *testing.T) {
	var buf bytes.Buffer
	m := New(&buf, Options{JSON: true, MaxLine: math.MaxInt})
	w := m.Writer(Stream{Process: "web", Worker: 1, PID: 1, Stream: "stdout"})
	if _, err := w.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	m.Close()
	if !strings.Contains(buf.String(), `"line":"hello"`) {
		t.Fatalf("got %q", buf.String())
	}
}

func FuzzPlainJSON(f *testing.F) {
	f.Add([]byte("plain text of more than sixteen bytes\n"))
	f.Add([]byte("x\"y"))
	f.Add([]byte(strings.Repeat("a", 31) + "é"))
	f.Fuzz(func(t *testing.T, b []byte) {
		want := len(b)
		for i, c := range b {
			if needsEscape(c) {
				want = i
				break
			}
		}
		if got := plainJSON(b); got != want {
			t.Fatalf("plainJSON(%q) = %d, want %d", b, got, want)
		}
		if got := plainJSONGo(b); got != want {
			t.Fatalf("plainJSONGo(%q) = %d, want %d", b, got, want)
		}
	})
}

// Valid UTF-8 stays whole in JSON however lines are cut: at MaxLine, and by
// the Writes they come in, no character becomes U+FFFD, and the pieces'
// lines joined are the input.
func TestJSONCutsKeepCharactersWhole(t *testing.T) {
	chars := []string{"a", "é", "日", "😀", "\u2028", " "}
	rng := rand.New(rand.NewPCG(7, 8))
	for round := 0; round < 200; round++ {
		max := []int{4, 5, 6, 7, 8, 9, 10, 31}[round%8]
		var data, joined []byte
		for n := 1 + rng.IntN(20); n > 0; n-- {
			var line []byte
			for k := rng.IntN(5 * max); k > 0; k-- {
				line = append(line, chars[rng.IntN(len(chars))]...)
			}
			joined = append(joined, line...)
			data = append(append(data, line...), '\n')
		}
		var out bytes.Buffer
		m := New(&out, Options{JSON: true, MaxLine: max, FlushAfter: time.Hour})
		w := m.Writer(Stream{Process: "web", Worker: 1})
		for p := data; len(p) > 0; {
			k := min(len(p), 1+rng.IntN(2*max))
			w.Write(p[:k])
			p = p[k:]
		}
		w.Close()
		var got []byte
		for _, l := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
			var e struct{ Line string }
			if err := json.Unmarshal([]byte(l), &e); err != nil {
				t.Fatalf("max %d: %q: %v", max, l, err)
			}
			if len(e.Line) > max || strings.ContainsRune(e.Line, utf8.RuneError) {
				t.Fatalf("max %d: line %q: longer than MaxLine or with U+FFFD", max, e.Line)
			}
			got = append(got, e.Line...)
		}
		if !bytes.Equal(got, joined) {
			t.Fatalf("max %d: lines joined\n%q\nwant\n%q", max, got, joined)
		}
	}
}

// A partial line printed after FlushAfter without its newline keeps back a
// character whose last bytes have not come: it starts the next line, whole;
// if they never come, it goes out alone one FlushAfter later, as U+FFFD.
func TestJSONPartialLineKeepsACutCharacter(t *testing.T) {
	var mu sync.Mutex
	var out bytes.Buffer
	m := New(writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(p) }),
		Options{JSON: true, FlushAfter: 20 * time.Millisecond})
	w := m.Writer(Stream{Process: "web", Worker: 1})
	lines := func(n int) []string {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			mu.Lock()
			s := out.String()
			mu.Unlock()
			var got []string
			for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
				var e struct{ Line string }
				if l != "" && json.Unmarshal([]byte(l), &e) == nil {
					got = append(got, e.Line)
				}
			}
			if len(got) >= n {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d lines, want %d: %q", len(got), n, s)
			}
		}
	}
	w.Write([]byte("ab\xe6\x97")) // 日 without its last byte
	if got := lines(1); got[0] != "ab" {
		t.Errorf("first line %q, want \"ab\"", got[0])
	}
	w.Write([]byte("\xa5!\n"))
	if got := lines(2); got[1] != "日!" {
		t.Errorf("second line %q, want \"日!\"", got[1])
	}
	w.Write([]byte("x\xe6")) // never completed
	if got := lines(4); got[2] != "x" || got[3] != "\ufffd" {
		t.Errorf("lines %q, want \"x\" then \"\\ufffd\"", got[2:])
	}
	w.Close()
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
