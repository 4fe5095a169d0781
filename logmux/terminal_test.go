package logmux

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var terminalCases = []struct {
	name, in, want string
}{
	{"plain", "hello, world", "hello, world"},
	{"tab", "a\tb", "a\tb"},
	{"utf-8 with 0x80-0x9f continuation bytes", "em—dash ’q’ é 日本 \U0001F600", "em—dash ’q’ é 日本 \U0001F600"},
	{"invalid utf-8 not C1", "bad \xff\xfe\xc3", "bad \xff\xfe\xc3"},
	{"SGR kept, reset at the end", "a \x1b[31mred\x1b[0m \x1b[m \x1b[38;5;196mx\x1b[38:2::255:0:0my", "a \x1b[31mred\x1b[0m \x1b[m \x1b[38;5;196mx\x1b[38:2::255:0:0my\x1b[0m"},
	{"SGR reset by the line", "\x1b[1;31mred\x1b[0m done", "\x1b[1;31mred\x1b[0m done"},
	{"SGR reset by the line, short form", "\x1b[32mok\x1b[m", "\x1b[32mok\x1b[m"},
	{"color left on", "x \x1b[31mred", "x \x1b[31mred\x1b[0m"},
	{"conceal left on", "\x1b[8mhidden", "\x1b[8mhidden\x1b[0m"},
	{"color left on after a reset", "\x1b[0m\x1b[7mrev", "\x1b[0m\x1b[7mrev\x1b[0m"},
	{"color left on, with a control", "\x1b[31mred\x07", "\x1b[31mred^G\x1b[0m"},
	{"clear screen and home", "\x1b[2J\x1b[Hgone", "^[[2J^[[Hgone"},
	{"private CSI", "\x1b[?25l", "^[[?25l"},
	{"CSI with intermediate", "\x1b[1 q", "^[[1 q"},
	{"unterminated SGR", "x\x1b[31", "x^[[31"},
	{"bare ESC at end", "x\x1b", "x^["},
	{"OSC 52 clipboard, BEL", "\x1b]52;c;cm0gLXJmIH4=\x07", "^[]52;c;cm0gLXJmIH4=^G"},
	{"OSC 0 title, ST", "\x1b]0;pwned\x1b\\", "^[]0;pwned^[\\"},
	{"OSC 8 hyperlink", "\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "^[]8;;http://x^[\\link^[]8;;^[\\"},
	{"DCS", "\x1bPq#0\x1b\\", "^[Pq#0^[\\"},
	{"APC PM SOS", "\x1b_a\x1b\\\x1b^b\x1b\\\x1bXc\x1b\\", "^[_a^[\\^[^b^[\\^[Xc^[\\"},
	{"single ESC: reset", "\x1bc", "^[c"},
	{"forged runner line", "ok\rcluster | all good", "ok^Mcluster | all good"},
	{"BEL BS NUL DEL", "\x07\x08\x00\x7f", "^G^H^@^?"},
	{"C1 raw CSI", "\x9b2J", "^[[2J"},
	{"C1 raw OSC and ST", "\x9d0;t\x9c", "^[]0;t^[\\"},
	{"C1 as UTF-8", "\u009b2J \u0085 \u0080 \u009f", "^[[2J ^[E ^[@ ^[_"},
	{"lone C2", "\xc2 x", "\xc2 x"},
}

// On a terminal, a line's payload keeps SGR colors and shows every other
// control visibly and inertly; the mux's own colored prefix is untouched.
func TestTerminalNeutralisesControls(t *testing.T) {
	for _, tc := range terminalCases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			m := New(&out, Options{Terminal: true, Color: true, MaxLine: 1 << 20})
			w := m.Writer(Stream{Process: "web", Worker: 1})
			w.Write([]byte(tc.in + "\r\n"))
			w.Close()
			prefix := "\x1b[36mweb.1   |\x1b[0m "
			if want := prefix + tc.want + "\n"; out.String() != want {
				t.Errorf("got  %q\nwant %q", out.String(), want)
			}
		})
	}
}

// A file or a pipe gets the bytes as they came (people grep them), bare CR
// included; only the CR of a CRLF goes, as everywhere.
func TestNotTerminalPassesBytesThrough(t *testing.T) {
	var out bytes.Buffer
	m := New(&out, Options{MaxLine: 1 << 20})
	w := m.Writer(Stream{Process: "web", Worker: 1})
	var want strings.Builder
	for _, tc := range terminalCases {
		w.Write([]byte(tc.in + "\r\n"))
		want.WriteString("web.1   | " + tc.in + "\n")
	}
	w.Close()
	if out.String() != want.String() {
		t.Errorf("got  %q\nwant %q", out.String(), want.String())
	}
}

// The fast path must not allocate or touch clean lines.
func TestTerminalCleanLineCopiedAsIs(t *testing.T) {
	line := []byte(strings.Repeat("plain\ttext é ", 100))
	buf := make([]byte, 0, 2*len(line))
	if a := testing.AllocsPerRun(100, func() { buf = appendTerminal(buf[:0], line) }); a != 0 {
		t.Errorf("%v allocations", a)
	}
	if !bytes.Equal(buf, line) {
		t.Errorf("clean line changed")
	}
}

func BenchmarkAppendTerminal(b *testing.B) {
	line := bytes.Repeat([]byte("x"), lineLen-1)
	buf := make([]byte, 0, 1024)
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		buf = appendTerminal(buf[:0], line)
	}
}

// JSON escapes every control already: Terminal changes nothing there.
func TestTerminalJSONUnchanged(t *testing.T) {
	var a, b bytes.Buffer
	for _, o := range []struct {
		buf  *bytes.Buffer
		term bool
	}{{&a, false}, {&b, true}} {
		m := New(o.buf, Options{JSON: true, Terminal: o.term, Now: func() time.Time { return time.Time{} }})
		w := m.Writer(Stream{Process: "web", Worker: 1})
		for _, tc := range terminalCases {
			w.Write([]byte(tc.in + "\n"))
		}
		w.Close()
	}
	if a.String() != b.String() || !strings.Contains(a.String(), `\u001b]52;c;`) {
		t.Errorf("JSON with Terminal differs:\n%s\n%s", a.String(), b.String())
	}
}

// The word-at-a-time scan agrees with the bytewise definition for every byte
// value at every offset, and on random input.
func TestPrintableASCII(t *testing.T) {
	want := func(b []byte) int {
		for i, c := range b {
			if c < 0x20 || c >= 0x7f {
				return i
			}
		}
		return len(b)
	}
	for v := range 256 {
		for p := range 20 {
			b := bytes.Repeat([]byte{'x'}, 20)
			b[p] = byte(v)
			if got, w := printableASCII(b), want(b); got != w {
				t.Fatalf("byte %#x at %d: %d, want %d", v, p, got, w)
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(0x20 + r.IntN(0x5f))
			if r.IntN(30) == 0 {
				b[i] = byte(r.IntN(256))
			}
		}
		if got, w := printableASCII(b), want(b); got != w {
			t.Fatalf("%q: %d, want %d", b, got, w)
		}
	}
}

// On random bytes, what reaches the terminal has no control but TAB and
// SGR sequences, raw or UTF-8.
func TestTerminalOutputHasOnlySGR(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte("ab[]m;:0129\x1b\x9b\xc2\x85\xe2\x80\x94\x07\r\t\x7f\xff")
	for range 20000 {
		in := make([]byte, r.IntN(30))
		for i := range in {
			in[i] = alphabet[r.IntN(len(alphabet))]
		}
		out := appendTerminal(nil, in)
		for i := 0; i < len(out); {
			c := out[i]
			if c == 0x1b {
				n := sgrLen(out[i:])
				if n == 0 {
					t.Fatalf("%q -> %q: ESC not starting an SGR at %d", in, out, i)
				}
				i += n
				continue
			}
			if c < 0x20 && c != '\t' || c == 0x7f {
				t.Fatalf("%q -> %q: control %#x at %d", in, out, c, i)
			}
			r, n := utf8.DecodeRune(out[i:])
			if n == 1 && c >= 0x80 && c <= 0x9f || n > 1 && r >= 0x80 && r <= 0x9f {
				t.Fatalf("%q -> %q: C1 at %d", in, out, i)
			}
			i += n
		}
	}
}

// A worker's color left on at the end of its line does not reach the next
// line of another worker nor the runner's own lines, even without Color.
func TestTerminalColorEndsWithItsLine(t *testing.T) {
	var out bytes.Buffer
	m := New(&out, Options{Terminal: true})
	m.Writer(Stream{Process: "web", Worker: 1}).Write([]byte("x \x1b[31mred\n"))
	m.Writer(Stream{Process: "db", Worker: 1}).Write([]byte("\x1b[8mhidden\n"))
	m.Event(Event{Worker: "web.1", Event: "exited", Status: ptr(0)})
	want := "web.1   | x \x1b[31mred\x1b[0m\n" +
		"db.1    | \x1b[8mhidden\x1b[0m\n" +
		"cluster | web.1 exited (status 0)\n"
	if out.String() != want {
		t.Errorf("got  %q\nwant %q", out.String(), want)
	}
}

// In color off a terminal (--color always into a pipe, less -R, a CI log) a
// worker's bytes pass unchanged, so a color or style it leaves on would
// reach the next line: every line starts with a reset instead, the
// runner's, another worker's, a timestamped one's, a flushed partial line's.
func TestColorOffTerminalLinesStartWithReset(t *testing.T) {
	at := time.Date(2026, 1, 2, 15, 4, 5, 6e6, time.Local)
	for _, ts := range []bool{false, true} {
		var out bytes.Buffer
		m := New(&out, Options{Color: true, Timestamps: ts, Now: func() time.Time { return at }})
		web := m.Writer(Stream{Process: "web", Worker: 1})
		web.Write([]byte("\x1b[8mhidden\nx \x1b[31mred\n"))
		m.Event(Event{Worker: "web.1", Event: "exited", Status: ptr(0)})
		db := m.Writer(Stream{Process: "db", Worker: 1})
		db.Write([]byte("\x1b[7mpartial"))
		db.Close()
		stamp := ""
		if ts {
			stamp = "15:04:05.006 "
		}
		r := "\x1b[0m" + stamp
		want := r + "\x1b[36mweb.1   |\x1b[0m \x1b[8mhidden\n" +
			r + "\x1b[36mweb.1   |\x1b[0m x \x1b[31mred\n" +
			r + "\x1b[1mcluster |\x1b[22m web.1 exited (status 0)\n" +
			r + "\x1b[33mdb.1    |\x1b[0m \x1b[7mpartial\n"
		if out.String() != want {
			t.Errorf("timestamps %v:\ngot  %q\nwant %q", ts, out.String(), want)
		}
	}
}
