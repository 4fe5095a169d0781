package logmux

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
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
		got := appendJSONString(nil, line)
		if want := encodingJSON(t, line); !bytes.Equal(got, want) {
			t.Fatalf("line %q\ngot  %s\nwant %s", line, got, want)
		}
	}
	for c := 0; c < 256; c++ { // each byte at each position of a word
		for pos := 0; pos < 17; pos++ {
			line := []byte(strings.Repeat("a", pos) + string([]byte{byte(c)}) + "bcdefghijklmnop")
			if got, want := appendJSONString(nil, line), encodingJSON(t, line); !bytes.Equal(got, want) {
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
	for _, opts := range []Options{{}, {Terminal: true}, {JSON: true}, {Timestamps: true}} {
		var out bytes.Buffer
		m := New(&out, opts)
		w := m.Writer(Stream{Process: "web", Worker: 1, PID: 42, Stream: "stdout"})
		data := bytes.Repeat([]byte("a line of plain text \"quoted\" and é\n"), 100)
		w.Write(data)
		allocs := testing.AllocsPerRun(100, func() {
			out.Reset()
			w.Write(data)
		})
		if allocs > 0 {
			t.Errorf("%+v: %.1f allocations per Write of 100 lines", opts, allocs)
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
