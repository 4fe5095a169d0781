package runner

import (
	"bytes"
	"slices"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"
)

// What `cluster logs` can show of one process type: the last ringLines lines
// of its workers, or fewer when they hold more than ringBytes of text.
const (
	ringLines   = 1000
	ringBytes   = 1 << 20
	ringMaxLine = 64 << 10 // text kept of one line; logmux already prints longer ones in 64 KiB pieces
	ringFirst   = 4 << 10  // the text buffer's first size; it doubles as needed, up to ringBytes
	ringSlots   = 1024     // records: a power of two >= ringLines, so indexes are masked, not divided
)

// Streams as a ring stores them.
const (
	streamStdout uint8 = iota
	streamStderr
	streamTTY
)

var streamNames = [...]string{streamStdout: "stdout", streamStderr: "stderr", streamTTY: "tty"}

// logRing keeps the last lines of one process type's workers. Every worker
// line passes through add, so add allocates nothing once the ring has grown:
// the text lives in one circular byte buffer (doubling up to ringBytes), each
// line contiguous in it (a line that does not fit before the end starts at
// the beginning), and the lines' records in a circular slice (up to
// ringLines). Its memory is bounded whatever the workers print: ringBytes of
// text, ringLines records, texts cut at ringMaxLine.
//
// Readers never hold back a writer: a follower reads by sequence number and
// is woken through its own channel of capacity 1, which add fills without
// waiting. A reader that falls more than the ring behind is told how many
// lines it missed instead.
type logRing struct {
	process string

	mu        sync.Mutex
	lines     []ringLine // circular: the oldest at first
	first     int
	count     int
	seq       uint64 // the number of the next line; the oldest kept is seq-count
	buf       []byte
	end       uint64 // virtual offset (buf index = offset % len(buf)) after the newest text
	followers []chan struct{}
}

type ringLine struct {
	at     int64  // unix nanoseconds
	pos    uint64 // virtual offset of the text
	n      uint32
	pid    int32
	worker int32
	stream uint8
}

// LogLine is one kept line, as `cluster logs` receives it. A line with
// Skipped > 0 is a marker instead: that many lines were not sent because the
// client read too slowly (or asked for them too late).
type LogLine struct {
	Time    time.Time `json:"time"`
	Process string    `json:"process"`
	Worker  int       `json:"worker"`
	PID     int       `json:"pid,omitempty"`
	Stream  string    `json:"stream"`
	Line    string    `json:"line"`
	// Raw: the line's bytes when they are not valid UTF-8, which a JSON
	// string cannot carry (in Line, encoding/json makes each bad byte
	// U+FFFD, which is all a client older than Raw prints); see AppendLine.
	Raw     []byte `json:"raw,omitempty"`
	Skipped uint64 `json:"skipped,omitempty"`
	// End: the last line of a logs answer, which carries nothing else
	// (CallLogs tells a complete answer from one cut off by it).
	End bool `json:"end,omitempty"`
}

func newLogRing(process string) *logRing {
	return &logRing{process: process}
}

// add keeps one line of worker (pid) on stream, printed at (unix
// nanoseconds); line is not kept.
func (r *logRing) add(worker, pid int, stream uint8, at int64, line []byte) {
	if len(line) > ringMaxLine {
		line = line[:ringMaxLine]
	}
	n := uint64(len(line))
	r.mu.Lock()
	if r.count == ringLines {
		r.drop()
	} else if r.count == len(r.lines) {
		r.growLines()
	}
	var pos uint64
	for {
		size := uint64(len(r.buf)) // a power of two
		if size >= n && size > 0 {
			pos = r.end
			if off := pos & (size - 1); off+n > size {
				pos += size - off // it starts at the beginning
			}
			if r.count == 0 || pos+n-r.lines[r.first].pos <= size {
				break
			}
		}
		if len(r.buf) < ringBytes {
			r.growBuf()
		} else {
			r.drop()
		}
	}
	off := pos & uint64(len(r.buf)-1)
	copy(r.buf[off:off+n], line)
	r.end = pos + n
	r.lines[(r.first+r.count)&(len(r.lines)-1)] = ringLine{at: at, pos: pos, n: uint32(n), pid: int32(pid), worker: int32(worker), stream: stream}
	r.count++
	r.seq++
	for _, c := range r.followers {
		select {
		case c <- struct{}{}:
		default:
		}
	}
	r.mu.Unlock()
}

// drop forgets the oldest line; mu must be held.
func (r *logRing) drop() {
	r.first = (r.first + 1) & (len(r.lines) - 1)
	r.count--
}

// growLines doubles the records' slice (up to ringSlots); mu must be held.
func (r *logRing) growLines() {
	lines := make([]ringLine, min(max(2*len(r.lines), 64), ringSlots))
	for i := 0; i < r.count; i++ {
		lines[i] = r.lines[(r.first+i)%len(r.lines)]
	}
	r.lines, r.first = lines, 0
}

// growBuf doubles the text buffer (up to ringBytes), moving the kept texts
// to its beginning; mu must be held.
func (r *logRing) growBuf() {
	buf := make([]byte, min(max(2*len(r.buf), ringFirst), ringBytes))
	var end uint64
	for i := 0; i < r.count; i++ {
		l := &r.lines[(r.first+i)%len(r.lines)]
		copy(buf[end:], r.text(*l))
		l.pos = end
		end += uint64(l.n)
	}
	r.buf, r.end = buf, end
}

// text is the kept text of l; mu must be held.
func (r *logRing) text(l ringLine) []byte {
	off := l.pos & uint64(len(r.buf)-1)
	return r.buf[off : off+uint64(l.n)]
}

// lineFilter selects the lines of some workers: nil or an empty set is every
// worker.
type lineFilter map[int]bool

func (f lineFilter) keep(worker int32) bool { return len(f) == 0 || f[int(worker)] }

// read returns up to max lines (of the workers f keeps) from sequence number
// from on, the number to read from next time, and how many lines had already
// been forgotten since from.
func (r *logRing) read(from uint64, max int, f lineFilter) (lines []LogLine, next, skipped uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	oldest := r.seq - uint64(r.count)
	if from < oldest {
		skipped, from = oldest-from, oldest
	}
	for ; from < r.seq && len(lines) < max; from++ {
		l := r.lines[(r.first+int(from-oldest))%len(r.lines)]
		if !f.keep(l.worker) {
			continue
		}
		lines = append(lines, r.logLine(l))
	}
	return lines, from, skipped
}

// AppendLine appends the line's bytes, as the worker printed them, to b.
func (l *LogLine) AppendLine(b []byte) []byte {
	if l.Raw != nil {
		return append(b, l.Raw...)
	}
	return append(b, l.Line...)
}

func (r *logRing) logLine(l ringLine) LogLine {
	text := r.text(l)
	ll := LogLine{Time: time.Unix(0, l.at), Process: r.process, Worker: int(l.worker), PID: int(l.pid),
		Stream: streamNames[l.stream], Line: string(text)}
	if !utf8.Valid(text) {
		ll.Raw = bytes.Clone(text)
	}
	return ll
}

// follow subscribes c to new lines and returns the sequence number of the
// next one; the caller must unfollow(c).
func (r *logRing) follow(c chan struct{}) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.followers = append(r.followers, c)
	return r.seq
}

func (r *logRing) unfollow(c chan struct{}) {
	r.mu.Lock()
	r.followers = slices.DeleteFunc(r.followers, func(x chan struct{}) bool { return x == c })
	r.mu.Unlock()
}

// since is the sequence number of the oldest kept line.
func (r *logRing) since() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seq - uint64(r.count)
}

// kept reports how many lines and bytes of text the ring keeps, and the
// bytes its buffers hold, for tests.
func (r *logRing) kept() (lines, text, held int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := 0; i < r.count; i++ {
		text += int(r.lines[(r.first+i)%len(r.lines)].n)
	}
	return r.count, text, len(r.buf) + len(r.lines)*int(unsafe.Sizeof(ringLine{}))
}
