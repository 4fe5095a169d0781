package runner

import (
	"fmt"
	"sync"
	"time"
)

// The runner's events reach Output.Event from one goroutine of their own
// (emitter), never straight from the supervisor or a slot: an output
// nobody reads (a pipe whose reader stopped) blocks Output.Event for as
// long as it stays unread, and that must not hold up a decision, a stop
// signal or the bounded end of Run. The caller still waits for its event
// to be written, so events and worker lines keep the order they had; it
// stops waiting once the write has taken eventStall, and while a write is
// stalled that long (or past Run's hard stop) events are queued without
// waiting. At most maxQueuedEvents wait; more are counted and said when the
// output moves.
const (
	eventStall      = 100 * time.Millisecond
	maxQueuedEvents = 1000
)

type emitter struct {
	out   Output
	hurry <-chan struct{} // closed at Run's hard stop: no caller waits after it

	mu      sync.Mutex
	queue   []queuedEvent
	writing time.Time     // when the event being written was handed to out; zero: none is
	running bool          // the writing goroutine runs (it ends when the queue is empty)
	idle    chan struct{} // closed when that goroutine ends
	dropped int           // events not queued: the queue was full
}

type queuedEvent struct {
	e    Event
	done chan struct{} // closed once out.Event returned
}

// emit writes e, or queues it when the output is stalled (see above).
func (m *emitter) emit(e Event) {
	m.mu.Lock()
	if len(m.queue) >= maxQueuedEvents {
		m.dropped++
		m.mu.Unlock()
		return
	}
	q := queuedEvent{e: e, done: make(chan struct{})}
	m.queue = append(m.queue, q)
	if !m.running {
		m.running = true
		m.idle = make(chan struct{})
		go m.write(m.idle)
	}
	stalled := !m.writing.IsZero() && time.Since(m.writing) >= eventStall
	m.mu.Unlock()
	if stalled {
		return
	}
	select {
	case <-q.done:
		return
	default:
	}
	t := time.NewTimer(eventStall)
	select {
	case <-q.done:
	case <-t.C:
	case <-m.hurry:
	}
	t.Stop()
}

// write hands the queued events to out in order, and ends when none is left.
func (m *emitter) write(idle chan struct{}) {
	defer close(idle)
	for {
		m.mu.Lock()
		m.writing = time.Time{}
		if m.dropped > 0 && len(m.queue) < maxQueuedEvents/2 {
			// The output moved again: say what it missed, in order.
			n := m.dropped
			m.dropped = 0
			m.queue = append(m.queue, queuedEvent{done: make(chan struct{}), e: Event{Event: "lost",
				Message: fmt.Sprintf("%s of the runner not written: the output was not read", plural(n, "event")),
				Fields:  map[string]any{"lines": n}}})
		}
		if len(m.queue) == 0 {
			m.running = false
			m.mu.Unlock()
			return
		}
		q := m.queue[0]
		m.queue[0] = queuedEvent{}
		m.queue = m.queue[1:]
		if len(m.queue) == 0 {
			m.queue = nil // the backing array of a burst is not kept
		}
		m.writing = time.Now()
		m.mu.Unlock()
		m.out.Event(q.e)
		close(q.done)
	}
}

// stalled reports whether a write of an event has taken eventStall so far.
func (m *emitter) stalled() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.writing.IsZero() && time.Since(m.writing) >= eventStall
}

// flush waits until every event is written, until deadline, or from when
// hard is closed, until a write is stalled; it returns how many were not
// written (queued, being written, or dropped).
func (m *emitter) flush(deadline time.Time, hard <-chan struct{}) int {
	m.mu.Lock()
	idle, running := m.idle, m.running
	m.mu.Unlock()
	if running {
		t := time.NewTimer(time.Until(deadline))
		var tick <-chan time.Time
	wait:
		for {
			select {
			case <-idle:
				break wait
			case <-t.C:
				break wait
			case <-hard:
				hard = nil
				tk := time.NewTicker(pollInterval)
				defer tk.Stop()
				tick = tk.C
			case <-tick:
			}
			if tick != nil && m.stalled() {
				break wait // nobody reads the output: not worth waiting for
			}
		}
		t.Stop()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(m.queue) + m.dropped
	if m.running && !m.writing.IsZero() {
		n++
	}
	return n
}

// Log prints a free-form line of the runner (event "log"), as its own
// events are printed: it never waits long on an output nobody reads.
func (r *Runner) Log(msg string) {
	r.emit(Event{Event: "log", Message: msg})
}

// Unwritten is how many of the runner's events Run could not write before
// it returned (the output was not read); 0 before Run returns.
func (r *Runner) Unwritten() int { return int(r.unwritten.Load()) }
