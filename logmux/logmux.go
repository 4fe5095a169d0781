package logmux

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/fatih/color"
)

// Options configure a Mux.
type Options struct {
	Color      bool             // color the prefixes (the caller decides: TTY, NO_COLOR, --color)
	Terminal   bool             // text mode: the output is a terminal, so control sequences in lines are neutralised
	JSON       bool             // one JSON object per line
	Timestamps bool             // text mode: prefix "15:04:05.000 " (JSON always has "time")
	FlushAfter time.Duration    // a partial line is printed after this wait; 0: 100ms
	MaxLine    int              // longer lines are printed in pieces of this size; 0: 64 KiB
	Now        func() time.Time // nil: time.Now
	Errors     io.Writer        // nil: none; told once when the output starts failing, and by Close of unreported losses
}

// Mux merges many line streams into one writer, one whole line at a time.
type Mux struct {
	opts Options

	mu      sync.Mutex // serialises every write to w: the line-atomicity lock
	w       io.Writer
	width   int          // label column width
	widthV  atomic.Int64 // bumped when width changes, so writers rebuild their prefix
	palette int          // next color
	lead    string       // what every text line starts with: sgrReset in color off a terminal (see New)
	colors  map[string]*color.Color
	scratch []byte // for events

	// Losses (see lost.go): lines that failed to reach w, not yet reported.
	lost    int64
	lostErr error  // the last write error
	failing bool   // in a failure streak: Errors has been told
	torn    bool   // a failed write left part of a line on w
	notice  string // for Errors, written by unlock once mu is released
	dropped int64  // lines whose loss Close could report only to Errors
	dropErr error  // the last error among those

	errMu sync.Mutex // serialises writes to opts.Errors
}

// The palette, in the order of SetProcesses, then of first appearance.
var palette = []color.Attribute{color.FgCyan, color.FgYellow, color.FgGreen, color.FgMagenta, color.FgBlue,
	color.FgHiCyan, color.FgHiYellow, color.FgHiGreen, color.FgHiMagenta, color.FgHiBlue, color.FgRed}

// New returns a Mux writing to w.
func New(w io.Writer, opts Options) *Mux {
	if opts.FlushAfter <= 0 {
		opts.FlushAfter = 100 * time.Millisecond
	}
	if opts.MaxLine <= 0 {
		opts.MaxLine = 64 << 10
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	m := &Mux{opts: opts, w: w, width: len("cluster"), colors: map[string]*color.Color{}}
	if opts.Color && !opts.Terminal && !opts.JSON {
		// A worker's colour or style left on at the end of its line (off a
		// terminal its bytes pass unchanged) must not reach the next line,
		// another worker's or the runner's: every line starts with a reset.
		// On a terminal the line that leaves one on ends with the reset
		// instead (appendTerminal); without color the bytes are the
		// worker's. It is part of the cached prefix or timestamp: no line
		// is scanned for it.
		m.lead = sgrReset
	}
	return m
}

// SetNames announces every label the mux will print, so the prefix column
// has one width from the first line on. Labels not announced still print.
func (m *Mux) SetNames(labels ...string) {
	m.mu.Lock()
	for _, l := range labels {
		m.widen(len(l))
	}
	m.mu.Unlock()
}

// SetProcesses gives process types their colors in the order given (the
// Clusterfile's, as foreman colors in Procfile order), so that a type has
// the same color in every run, and in `cluster logs`, whichever type prints
// first. A type that already has a color keeps it; one not given gets the
// next color when it first prints.
func (m *Mux) SetProcesses(names ...string) {
	m.mu.Lock()
	for _, n := range names {
		m.colorFor(n)
	}
	m.mu.Unlock()
}

func (m *Mux) widen(n int) {
	if n > m.width {
		m.width = n
		m.widthV.Add(1)
	}
}

// colorFor returns the color of a process type; mu must be held.
func (m *Mux) colorFor(process string) *color.Color {
	c, ok := m.colors[process]
	if !ok {
		if process == "cluster" {
			c = color.New(color.Bold)
		} else {
			c = color.New(palette[m.palette%len(palette)])
			m.palette++
		}
		if m.opts.Color {
			c.EnableColor()
		} else {
			c.DisableColor()
		}
		m.colors[process] = c
	}
	return c
}

// prefix builds "web.1  | " (colored) for the current width; mu must be held.
func (m *Mux) prefix(process, label string) []byte {
	m.widen(len(label))
	pad := label + spaces(m.width-len(label)) + " |"
	lead := m.lead
	if m.opts.Timestamps {
		lead = "" // the timestamp starts the line
	}
	return []byte(lead + m.colorFor(process).Sprint(pad) + " ")
}

func spaces(n int) string {
	if n <= 0 {
		return ""
	}
	return string(bytes.Repeat([]byte{' '}, n))
}

// write sends b, whole lines, to the output; mu must be held. A failed
// write costs the lines of b (counted, not retried: writers never wait on a
// dead output), and the next call tries again, first reporting the losses.
func (m *Mux) write(b []byte) {
	if len(b) == 0 {
		return
	}
	if (m.lost > 0 || m.torn) && !m.report() {
		m.fail(b, 0, m.lostErr)
		return
	}
	n, err := m.w.Write(b)
	if err != nil {
		m.fail(b, n, err)
		return
	}
	m.failing = false
}

// Stream names one output stream of one worker process.
type Stream struct {
	Process string
	Worker  int
	PID     int
	Stream  string            // "stdout", "stderr" or "tty" (a pty: every CR before a newline goes)
	OnLine  func(line []byte) // called once per line (or piece of a long line), before it is written; must not keep line
	// Pending, when set, reports whether more of the stream's bytes wait to
	// be read: a partial line is then not printed on its own when FlushAfter
	// passes (its reader was only slow to come back, on a busy machine),
	// and the timer waits again.
	Pending func() bool
}

// Writer returns a line-buffered writer for one stream of one worker.
// Write blocks while the output is slow (back-pressure) and drops nothing
// while the output accepts writes; lines that fail are counted (see Lost).
// Close prints a partial last line.
func (m *Mux) Writer(s Stream) io.WriteCloser {
	w := &writer{m: m, s: s, label: s.Process + "." + strconv.Itoa(s.Worker)}
	if m.opts.JSON {
		w.jsonHead = jsonHead(s)
	}
	return w
}

// Copy copies r into a Writer for s until EOF, then closes it.
func (m *Mux) Copy(s Stream, r io.Reader) error {
	w := m.Writer(s)
	_, err := io.Copy(w, r)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

type writer struct {
	m        *Mux
	s        Stream
	label    string
	jsonHead []byte // `,"process":"web","worker":1,"pid":42,"stream":"stdout","line":"`

	mu      sync.Mutex // guards the fields below: Write and the flush timer
	partial []byte     // bytes of a line without its newline yet
	since   time.Time  // when partial started waiting
	timer   *time.Timer
	prefix  []byte
	widthV  int64
	closed  bool

	// The time of the lines being formatted, as JSON's head (with "time")
	// or text's timestamp, and the millisecond it is of. Lines that arrive in one
	// Write arrive at one time: the clock is read once per batch (stamped
	// says it was), and formatted only when it moved to another millisecond.
	stamped bool
	tsMilli int64
	ts      []byte
	sep     []byte // JSON: lineEnd then ts, in one array (ts is its tail)
}

// outBufs holds the buffers lines are formatted into. A Writer takes one per
// Write and gives it back, so an idle worker's streams hold none: after a
// burst from many workers the memory goes back with the pool's next GCs.
// A new one has room for the text of one full read of a worker's pipe in
// the runner (16 KiB of lines, a fifth more with their prefixes): a smaller
// one grows by doubling in the first Write of a burst, and each collection
// empties the pool, so the doublings' garbage brought on more collections.
// With 32 workers printing 20,000 lines each, starting at 4 KiB cost one
// collection more and left the runner 0.25 MiB larger afterwards
// (bench/rss.sh: +0.70-0.89 MiB over idle instead of +1.04-1.12, the same
// runs).
var outBufs = sync.Pool{New: func() any { b := make([]byte, 0, 32<<10); return &b }}

// flushAt is how much formatted output a Write gathers before it writes it:
// one read of a worker's pipe (16 KiB in the runner, up to 32 KiB in Copy)
// is one write in text and in JSON (which is 2.5 times as long), and a slow
// output holds back at most this.
const flushAt = 128 << 10

// maxOutBuf is the largest buffer given back to outBufs (a line is cut at
// MaxLine, 64 KiB, but JSON may escape it to six times that).
const maxOutBuf = 256 << 10

// maxIdlePartial is the most a Writer keeps for a partial line between
// Writes once the line is out: a long line's buffer is not kept for life.
const maxIdlePartial = 4 << 10

func getOut() *[]byte { return outBufs.Get().(*[]byte) }

func putOut(bp *[]byte, out []byte) {
	if cap(out) <= maxOutBuf {
		*bp = out[:0]
		outBufs.Put(bp)
	}
}

// releasePartial drops a large partial-line buffer once it is empty; w.mu
// must be held.
func (w *writer) releasePartial() {
	if len(w.partial) == 0 && cap(w.partial) > maxIdlePartial {
		w.partial = nil
	}
}

// Write formats every complete line of p and writes them in one call under
// the output lock: no line is ever split or interleaved with another's.
func (w *writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, io.ErrClosedPipe
	}
	n := len(p)
	max := w.m.opts.MaxLine
	bp := getOut()
	out := *bp
	w.stamped = false
	flushOut := func() {
		if len(out) > 0 {
			w.m.mu.Lock()
			w.m.write(out)
			w.m.unlock()
			out = out[:0]
			w.stamped = false // the write may have waited on a slow output
		}
	}
	json := w.m.opts.JSON
	// The modes with a fast path. A terminal's lines take the slow one: a
	// pty's ONLCR makes an app's "\r\n" "\r\r\n", and every CR before the
	// newline goes (trimCRs).
	fast := (json || !w.m.opts.Terminal) && w.s.Stream != "tty"
	for len(p) > 0 {
		plain := 0 // how many bytes p starts with that need no escaping in JSON
		if fast && len(w.partial) == 0 {
			// The whole lines p starts with, in one loop. It stops when out
			// is full, or at a line it does not take (no newline yet,
			// longer than max, in JSON one to escape): the code below
			// takes that one, knowing plain.
			var k int
			if json {
				out, k, plain = w.appendPlainJSON(out, p, max)
			} else {
				out, k = w.appendText(out, p, max)
			}
			p = p[k:]
			if len(out) >= flushAt {
				flushOut()
				continue
			}
			if len(p) == 0 {
				break
			}
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			// No newline: keep it, printing MaxLine pieces as they fill,
			// but not a piece after which only a '\r' has come: it may be
			// the CR of a CRLF, which goes with the line's end (a piece
			// ending just before it would leave an empty line).
			for n := len(w.partial) + len(p); n > max; n = len(w.partial) + len(p) {
				if n == max+1 && (len(p) > 0 && p[len(p)-1] == '\r' || len(p) == 0 && w.partial[max] == '\r') {
					break
				}
				if k := max - len(w.partial); k > 0 {
					w.partial = append(w.partial, p[:k]...)
					p = p[k:]
				}
				cut := max
				if json {
					cut = runeCut(w.partial[:max])
				}
				out = w.format(out, w.partial[:cut])
				w.partial = w.partial[:copy(w.partial, w.partial[cut:])]
				if len(w.partial) > 0 {
					w.since = w.m.opts.Now()
				}
				if len(out) >= flushAt {
					flushOut()
				}
			}
			if len(p) > 0 {
				if len(w.partial) == 0 {
					w.since = w.m.opts.Now()
				}
				w.partial = append(w.partial, p...)
			}
			break
		}
		line := p[:i]
		p = p[i+1:]
		if len(w.partial) > 0 {
			w.partial = append(w.partial, line...)
			line = w.partial
		}
		// The CR of a CRLF goes before the line is cut: a line of MaxLine
		// bytes and "\r\n" is one piece, not that and an empty one.
		if w.s.Stream == "tty" {
			line = trimCRs(line)
		}
		for line = trimCR(line); len(line) > max; {
			k := max
			if json {
				k = runeCut(line[:max])
			}
			out = w.format(out, line[:k])
			line = line[k:]
			plain = 0
		}
		if plain > 0 {
			out = w.formatJSON(out, line, min(plain, len(line)))
		} else {
			out = w.format(out, line)
		}
		w.partial = w.partial[:0]
		if len(out) >= flushAt {
			flushOut()
		}
	}
	flushOut()
	putOut(bp, out)
	w.releasePartial()
	if len(w.partial) > 0 && w.timer == nil {
		w.timer = time.AfterFunc(w.m.opts.FlushAfter, w.flushPartial)
	}
	return n, nil
}

// runeCut is where a piece of a line cut at MaxLine, or by a pause, ends in
// JSON: before a character whose encoding the piece ends in the middle of
// (its last bytes are not there yet), which then starts the next piece and
// is escaped whole, instead of as U+FFFD in both. len(b) when b ends on a
// character boundary, or that character is all of b (MaxLine under 4).
// Bytes that are not UTF-8 are escaped as U+FFFD wherever they fall.
func runeCut(b []byte) int {
	n := len(b)
	for i := n - 1; i >= 0 && i >= n-utf8.UTFMax+1; i-- {
		if utf8.RuneStart(b[i]) {
			if i > 0 && !utf8.FullRune(b[i:]) {
				return i
			}
			return n
		}
	}
	return n
}

func trimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}

// trimCRs drops every CR at the end of a terminal's line: the app's own
// "\r\n" reaches the runner as "\r\r\n" through the pty's ONLCR.
func trimCRs(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	return b
}

// flushPartial prints a partial line that waited FlushAfter.
func (w *writer) flushPartial() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.timer = nil
	if w.closed || len(w.partial) == 0 {
		return
	}
	if wait := w.m.opts.FlushAfter - w.m.opts.Now().Sub(w.since); wait > 0 {
		w.timer = time.AfterFunc(wait, w.flushPartial)
		return
	}
	if w.s.Pending != nil && w.s.Pending() {
		w.timer = time.AfterFunc(w.m.opts.FlushAfter, w.flushPartial)
		return
	}
	if w.m.opts.JSON {
		// A character cut by the pause waits one more FlushAfter for its
		// last bytes, then goes out alone (as U+FFFD if they never came).
		if cut := runeCut(w.partial); cut < len(w.partial) {
			w.emit(w.partial[:cut])
			w.partial = w.partial[:copy(w.partial, w.partial[cut:])]
			w.since = w.m.opts.Now()
			w.timer = time.AfterFunc(w.m.opts.FlushAfter, w.flushPartial)
			return
		}
	}
	w.emitPartial()
}

// emitPartial prints the partial line as a line; w.mu must be held. It
// may be MaxLine bytes and a '\r' that waited for its '\n' (Write): that is
// a piece, then the '\r' as the line's last.
func (w *writer) emitPartial() {
	b := w.partial
	if max := w.m.opts.MaxLine; len(b) > max {
		cut := max
		if w.m.opts.JSON {
			cut = runeCut(b[:max])
		}
		w.emit(b[:cut])
		b = b[cut:]
	}
	w.emit(b)
	w.partial = w.partial[:0]
	w.releasePartial()
}

// emit prints b as a line; w.mu must be held.
func (w *writer) emit(b []byte) {
	bp := getOut()
	w.stamped = false
	out := w.format(*bp, b)
	w.m.mu.Lock()
	w.m.write(out)
	w.m.unlock()
	putOut(bp, out)
}

// Close prints a partial last line and stops the timer.
func (w *writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	if len(w.partial) > 0 {
		w.emitPartial()
	}
	return nil
}

// appendPlainJSON appends, as JSON lines, the run of whole lines p starts
// with whose text needs no escaping (each of at most max bytes, its '\r'
// counted, as Write cuts before trimCR), until out reaches flushAt: what
// format does, but each line is copied at once (one scan finds a plain
// line's end: '\n' needs escaping too). It returns out, how many bytes of p
// it took, k, and when it stopped at a line it does not take, how many bytes
// p[k:] starts with that need no escaping, up to max+1.
func (w *writer) appendPlainJSON(out, p []byte, max int) (_ []byte, k, plain int) {
	onLine := w.s.OnLine
	// The end of one line and the head of the next, the same between any
	// two lines of the run: lineEnd then stamp's head, stored before it.
	var sep []byte
	for len(out) < flushAt {
		// The next line: its bytes that need no escaping, n, up to
		// max+1, then its end, "\n" or "\r\n" (as trimCR), within max.
		q := p[k:]
		if max < len(q) { // not max+1 < len(q): max may be math.MaxInt
			q = q[:max+1]
		}
		n := plainJSON(q)
		if n < len(q) && q[n] == '\n' {
			k += n + 1
		} else if n+1 < len(q) && q[n] == '\r' && q[n+1] == '\n' {
			k += n + 2
		} else {
			plain = n
			break
		}
		line := q[:n]
		if onLine != nil {
			onLine(line)
		}
		if sep == nil {
			ts := w.stamp()
			out = append(out, ts...)
			sep = w.sep
		} else {
			out = append(out, sep...)
		}
		out = append(out, line...)
	}
	if sep != nil {
		out = append(out, lineEnd...)
	}
	return out, k, plain
}

// formatJSON appends one JSON line to out, as format does; the first plain
// bytes of line are known to need no escaping.
func (w *writer) formatJSON(out, line []byte, plain int) []byte {
	if w.s.OnLine != nil {
		w.s.OnLine(line)
	}
	out = append(out, w.stamp()...) // {"time":"...", then jsonHead and the string's '"'
	out = appendJSONChars(out, line, plain)
	return append(out, lineEnd...)
}

// lineEnd ends a JSON line: its string, its object, the line.
const lineEnd = "\"}\n"

// format appends one formatted line to out.
func (w *writer) format(out, line []byte) []byte {
	m := w.m
	if m.opts.JSON {
		return w.formatJSON(out, line, 0)
	}
	if w.s.OnLine != nil {
		w.s.OnLine(line)
	}
	if m.opts.Timestamps {
		out = append(out, w.stamp()...)
	}
	out = append(out, w.linePrefix()...)
	if m.opts.Terminal {
		out = appendTerminal(out, line)
	} else {
		out = append(out, line...)
	}
	return append(out, '\n')
}

// linePrefix returns "web.1  | " for the mux's current width.
func (w *writer) linePrefix() []byte {
	m := w.m
	if v := m.widthV.Load(); w.prefix == nil || w.widthV != v {
		m.mu.Lock()
		w.prefix = m.prefix(w.s.Process, w.label)
		w.widthV = m.widthV.Load()
		m.mu.Unlock()
	}
	return w.prefix
}

// appendText is format's text mode without Terminal, for the run of whole
// lines p starts with: it appends each line of at most max bytes (format
// cuts a longer one) until out reaches flushAt, and returns how many bytes
// of p it took. Only the newline
// is searched for: the prefix and the clock are the same for every line of a
// Write, and a line without "\r\n" is copied with its '\n' at once.
func (w *writer) appendText(out, p []byte, max int) ([]byte, int) {
	prefix := w.linePrefix()
	onLine, stamp := w.s.OnLine, w.m.opts.Timestamps
	k := 0
	for len(out) < flushAt {
		i := bytes.IndexByte(p[k:], '\n')
		if i < 0 || i > max {
			break
		}
		line := p[k : k+i+1] // with its '\n'
		k += i + 1
		if onLine != nil {
			onLine(trimCR(line[:i]))
		}
		if stamp {
			out = append(out, w.stamp()...)
		}
		out = append(out, prefix...)
		if i > 0 && line[i-1] == '\r' {
			out = append(out, line[:i-1]...)
			out = append(out, '\n')
		} else {
			out = append(out, line...)
		}
	}
	return out, k
}

const jsonTime = "2006-01-02T15:04:05.000Z"

// stamp returns the time of the batch being formatted: in JSON the line's
// head, `{"time":"2026-11-22T10:00:00.123Z"` (UTC), jsonHead and the '"'
// that opens the line's string, in text
// "15:04:05.000 " (the clock's zone); w.mu must be held.
func (w *writer) stamp() []byte {
	if w.stamped {
		return w.ts
	}
	w.stamped = true
	t := w.m.opts.Now()
	ms := t.Unix()*1000 + int64(t.Nanosecond()/1e6) // floor, also before 1970
	if w.ts == nil || ms != w.tsMilli {
		if w.m.opts.JSON {
			// After lineEnd, so that the end of one line and the head of
			// the next are one copy (appendPlainJSON).
			sep := append(w.sep[:0], lineEnd...)
			sep = append(sep, `{"time":"`...)
			sep = t.UTC().AppendFormat(sep, jsonTime)
			sep = append(sep, '"')
			sep = append(sep, w.jsonHead...)
			w.sep, w.ts = sep, sep[len(lineEnd):]
		} else {
			w.ts = t.AppendFormat(append(w.ts[:0], w.m.lead...), "15:04:05.000 ")
		}
		w.tsMilli = ms
	}
	return w.ts
}

func jsonHead(s Stream) []byte {
	b := []byte(`,"process":`)
	b = appendJSONString(b, s.Process)
	b = append(b, `,"worker":`...)
	b = strconv.AppendInt(b, int64(s.Worker), 10)
	if s.PID > 0 {
		b = append(b, `,"pid":`...)
		b = strconv.AppendInt(b, int64(s.PID), 10)
	}
	b = append(b, `,"stream":`...)
	b = appendJSONString(b, s.Stream)
	return append(b, `,"line":"`...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, as encoding/json would with
// SetEscapeHTML(false), but \b and \f as \u0008 and \u000c. Invalid UTF-8
// becomes U+FFFD (as encoding/json does), so every line stays valid JSON.
// It takes a string (names, events, messages: short), which is copied at
// once when plain.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	i := 0
	for i < len(s) && jsonPlain[s[i]] {
		i++
	}
	if i < len(s) {
		// Only a string to escape is converted (copied) to bytes: the
		// compiler cannot see that the assembly plainJSON only reads, so
		// converting every string made each caller's frame larger (the
		// event formatter's 992 bytes instead of 480), and a 32-worker
		// runner's idle RSS 0.25 MiB larger.
		b = appendJSONChars(b, []byte(s), i)
	} else {
		b = append(b, s...)
	}
	return append(b, '"')
}

// appendJSONChars appends s escaped as appendJSONString does, without the
// quotes; the first plain bytes of s are known to need no escaping.
func appendJSONChars(b, s []byte, plain int) []byte {
	start := 0 // s[start:i] needs no escaping, not yet copied
	for i := plain; i < len(s); {
		i += plainJSON(s[i:])
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, `\u202`...)
			b = append(b, hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}

// plainJSONGo returns the length of the run of bytes that b starts with that
// a JSON string holds as they are: ASCII from 0x20 but '"' and '\\'. It
// checks eight bytes at a time; the lowest byte jsonSpecial flags in a word
// is the first that needs escaping. It is plainJSON where there is no
// assembly version (plain_amd64.s), which tests hold to it.
func plainJSONGo(b []byte) int {
	n := len(b)
	r := b // what is left to check
	for len(r) >= 32 {
		m0 := jsonSpecial(binary.LittleEndian.Uint64(r))
		m1 := jsonSpecial(binary.LittleEndian.Uint64(r[8:]))
		m2 := jsonSpecial(binary.LittleEndian.Uint64(r[16:]))
		m3 := jsonSpecial(binary.LittleEndian.Uint64(r[24:32]))
		if m0|m1|m2|m3 != 0 {
			i := n - len(r)
			switch {
			case m0 != 0:
				return i + bits.TrailingZeros64(m0)/8
			case m1 != 0:
				return i + 8 + bits.TrailingZeros64(m1)/8
			case m2 != 0:
				return i + 16 + bits.TrailingZeros64(m2)/8
			}
			return i + 24 + bits.TrailingZeros64(m3)/8
		}
		r = r[32:]
	}
	for len(r) >= 8 {
		if m := jsonSpecial(binary.LittleEndian.Uint64(r)); m != 0 {
			return n - len(r) + bits.TrailingZeros64(m)/8
		}
		r = r[8:]
	}
	if len(r) == 0 {
		return n
	}
	if n >= 8 {
		// The last eight bytes: those before r are plain, so none is flagged.
		if m := jsonSpecial(binary.LittleEndian.Uint64(b[n-8:])); m != 0 {
			return n - 8 + bits.TrailingZeros64(m)/8
		}
		return n
	}
	i := n - len(r)
	for i < n && jsonPlain[b[i]] {
		i++
	}
	return i
}

// jsonPlain says which bytes plainJSON lets through.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// jsonSpecial is not 0 when one of the eight bytes of x needs escaping, and
// its lowest high bit set is in the first such byte. A high bit is set in: x
// for bytes >= 0x80; (x^0x02)-0x21 for bytes below 0x20 and for '"' (0x22,
// which ^0x02 makes 0x20: those and only those go below 0x21); (x^'\\')-1
// for a backslash. A borrow comes only from such a byte and goes to the
// bytes above it: the lowest flagged byte is always a true one.
func jsonSpecial(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	return (x | (x ^ 0x02*ones - 0x21*ones) | (x ^ '\\'*ones - ones)) & highs
}

// Event is one runner event line.
type Event struct {
	Worker  string         // what the event is about: "web.2", "web" (a whole type), or "" (the cluster)
	Event   string         // started, ready, exited, restarting, failed, reloading, ...
	PID     int            // 0: omitted
	Status  *int           // exit status, when there is one
	Signal  string         // "SIGKILL" when it died of a signal
	Message string         // the human line; built from the rest when empty
	Fields  map[string]any // extra JSON keys
}

// Event prints a runner event as process "cluster":
// text "cluster | web.2 exited (status 3)", JSON
// {"time":..,"process":"cluster","event":"exited","target":"web.2","target_process":"web","worker":2,"status":3,...}.
// "worker" is the worker's index, an integer as in worker lines; an event
// about a whole type ("web") has target and target_process but no worker.
func (m *Mux) Event(e Event) {
	m.mu.Lock()
	b := m.appendEvent(m.scratch[:0], e)
	m.write(b)
	m.scratch = b[:0]
	m.unlock()
}

// appendEvent appends one formatted event line to b; mu must be held.
func (m *Mux) appendEvent(b []byte, e Event) []byte {
	msg := e.Message
	if msg == "" {
		msg = e.Event
		if e.Worker != "" {
			msg = e.Worker + " " + msg
		}
		if e.Status != nil {
			msg += " (status " + strconv.Itoa(*e.Status) + ")"
		} else if e.Signal != "" {
			msg += " (signal " + e.Signal + ")"
		}
	}
	if !m.opts.JSON {
		if m.opts.Timestamps {
			b = m.opts.Now().AppendFormat(append(b, m.lead...), "15:04:05.000 ")
		}
		b = append(b, m.prefix("cluster", "cluster")...)
		b = append(b, msg...)
		return append(b, '\n')
	}
	b = append(b, `{"time":"`...)
	b = m.opts.Now().UTC().AppendFormat(b, jsonTime)
	b = append(b, `","process":"cluster","event":`...)
	b = appendJSONString(b, e.Event)
	if e.Worker != "" {
		b = append(b, `,"target":`...)
		b = appendJSONString(b, e.Worker)
		process, index := splitTarget(e.Worker)
		b = append(b, `,"target_process":`...)
		b = appendJSONString(b, process)
		if index > 0 {
			b = append(b, `,"worker":`...)
			b = strconv.AppendInt(b, int64(index), 10)
		}
	}
	if e.PID > 0 {
		b = append(b, `,"pid":`...)
		b = strconv.AppendInt(b, int64(e.PID), 10)
	}
	if e.Status != nil {
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(*e.Status), 10)
	}
	if e.Signal != "" {
		b = append(b, `,"signal":`...)
		b = appendJSONString(b, e.Signal)
	}
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b = append(b, ',')
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONValue(b, e.Fields[k])
	}
	b = append(b, `,"message":`...)
	b = appendJSONString(b, msg)
	return append(b, "}\n"...)
}

// splitTarget splits "web.2" into ("web", 2) and "web" into ("web", 0).
// Process names never contain a dot.
func splitTarget(target string) (string, int) {
	if i := strings.LastIndexByte(target, '.'); i > 0 {
		if n, err := strconv.Atoi(target[i+1:]); err == nil && n > 0 {
			return target[:i], n
		}
	}
	return target, 0
}

func appendJSONValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case float64:
		return strconv.AppendFloat(b, x, 'g', -1, 64)
	case bool:
		return strconv.AppendBool(b, x)
	case string:
		return appendJSONString(b, x)
	}
	return appendJSONString(b, fmt.Sprint(v))
}

// Printf prints a free-form runner line as "cluster" (event "log" in JSON).
func (m *Mux) Printf(format string, args ...any) {
	m.Event(Event{Event: "log", Message: fmt.Sprintf(format, args...)})
}
