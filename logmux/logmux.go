package logmux

import (
	"bytes"
	"fmt"
	"io"
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

// The palette, in order of first appearance of a process type (foreman's).
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
	return &Mux{opts: opts, w: w, width: len("cluster"), colors: map[string]*color.Color{}}
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
	return []byte(m.colorFor(process).Sprint(pad) + " ")
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
	if m.lost > 0 && !m.report() {
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
	Stream  string            // "stdout" or "stderr"
	OnLine  func(line []byte) // called once per line (or piece of a long line), before it is written; must not keep line
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
	jsonHead []byte // `,"process":"web","worker":1,"pid":42,"stream":"stdout","line":`

	mu      sync.Mutex // guards the fields below: Write and the flush timer
	partial []byte     // bytes of a line without its newline yet
	since   time.Time  // when partial started waiting
	timer   *time.Timer
	prefix  []byte
	widthV  int64
	out     []byte // formatted output, reused
	closed  bool
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
	out := w.out[:0]
	flushOut := func() {
		if len(out) > 0 {
			w.m.mu.Lock()
			w.m.write(out)
			w.m.unlock()
			out = out[:0]
		}
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			// No newline: keep it, printing MaxLine pieces as they fill.
			for len(w.partial)+len(p) > max {
				k := max - len(w.partial)
				w.partial = append(w.partial, p[:k]...)
				p = p[k:]
				out = w.format(out, w.partial)
				w.partial = w.partial[:0]
				if len(out) >= 64<<10 {
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
		for len(line) > max {
			out = w.format(out, line[:max])
			line = line[max:]
		}
		out = w.format(out, trimCR(line))
		w.partial = w.partial[:0]
		if len(out) >= 64<<10 {
			flushOut()
		}
	}
	flushOut()
	if cap(out) <= 256<<10 {
		w.out = out
	}
	if len(w.partial) > 0 && w.timer == nil {
		w.timer = time.AfterFunc(w.m.opts.FlushAfter, w.flushPartial)
	}
	return n, nil
}

func trimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
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
	w.emitPartial()
}

// emitPartial prints the partial line as a line; w.mu must be held.
func (w *writer) emitPartial() {
	out := w.format(w.out[:0], w.partial)
	w.partial = w.partial[:0]
	w.m.mu.Lock()
	w.m.write(out)
	w.m.unlock()
	w.out = out[:0]
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

// format appends one formatted line to out.
func (w *writer) format(out, line []byte) []byte {
	if w.s.OnLine != nil {
		w.s.OnLine(line)
	}
	m := w.m
	if m.opts.JSON {
		out = append(out, `{"time":"`...)
		out = m.opts.Now().UTC().AppendFormat(out, jsonTime)
		out = append(out, '"')
		out = append(out, w.jsonHead...)
		out = appendJSONString(out, line)
		return append(out, "}\n"...)
	}
	if m.opts.Timestamps {
		out = m.opts.Now().AppendFormat(out, "15:04:05.000 ")
	}
	if v := m.widthV.Load(); w.prefix == nil || w.widthV != v {
		m.mu.Lock()
		w.prefix = m.prefix(w.s.Process, w.label)
		w.widthV = m.widthV.Load()
		m.mu.Unlock()
	}
	out = append(out, w.prefix...)
	if m.opts.Terminal {
		out = appendTerminal(out, line)
	} else {
		out = append(out, line...)
	}
	return append(out, '\n')
}

const jsonTime = "2006-01-02T15:04:05.000Z"

func jsonHead(s Stream) []byte {
	b := []byte(`,"process":`)
	b = appendJSONString(b, []byte(s.Process))
	b = append(b, `,"worker":`...)
	b = strconv.AppendInt(b, int64(s.Worker), 10)
	if s.PID > 0 {
		b = append(b, `,"pid":`...)
		b = strconv.AppendInt(b, int64(s.PID), 10)
	}
	b = append(b, `,"stream":`...)
	b = appendJSONString(b, []byte(s.Stream))
	return append(b, `,"line":`...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD
// (as encoding/json does), so every line stays valid JSON.
func appendJSONString(b, s []byte) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
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
	b = append(b, s[start:]...)
	return append(b, '"')
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
			b = m.opts.Now().AppendFormat(b, "15:04:05.000 ")
		}
		b = append(b, m.prefix("cluster", "cluster")...)
		b = append(b, msg...)
		return append(b, '\n')
	}
	b = append(b, `{"time":"`...)
	b = m.opts.Now().UTC().AppendFormat(b, jsonTime)
	b = append(b, `","process":"cluster","event":`...)
	b = appendJSONString(b, []byte(e.Event))
	if e.Worker != "" {
		b = append(b, `,"target":`...)
		b = appendJSONString(b, []byte(e.Worker))
		process, index := splitTarget(e.Worker)
		b = append(b, `,"target_process":`...)
		b = appendJSONString(b, []byte(process))
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
		b = appendJSONString(b, []byte(e.Signal))
	}
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b = append(b, ',')
		b = appendJSONString(b, []byte(k))
		b = append(b, ':')
		b = appendJSONValue(b, e.Fields[k])
	}
	b = append(b, `,"message":`...)
	b = appendJSONString(b, []byte(msg))
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
		return appendJSONString(b, []byte(x))
	}
	return appendJSONString(b, []byte(fmt.Sprint(v)))
}

// Printf prints a free-form runner line as "cluster" (event "log" in JSON).
func (m *Mux) Printf(format string, args ...any) {
	m.Event(Event{Event: "log", Message: fmt.Sprintf(format, args...)})
}
