package main

import (
	"context"
	"io"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// Returning memory after a burst. The Go runtime keeps a small heap (up to
// 4 MiB) uncollected, and what a burst of output grew (stacks of the copy
// goroutines, pooled buffers, freed spans) comes back to the system only
// slowly, if at all, while the runner sits idle for hours. So once the
// runner has allocated trimAfter since the last trim and then allocates
// less than trimQuiet in a second, it collects twice (a sync.Pool keeps
// its buffers through one collection) and returns the free pages at once:
// start-up and every burst are followed by one trim. One trim of a small
// heap costs well under a millisecond.
//
// An idle runner hardly wakes up for it: once there is nothing to trim
// the loop sleeps until the next line of output or event pokes it (an
// atomic load per write while it is awake), or for a minute at most, so
// that what control requests allocated is trimmed too.
const (
	trimAfter     = 1 << 20   // bytes allocated since the last trim
	trimQuiet     = 128 << 10 // bytes allocated over the last second: quiet
	trimEvery     = time.Second
	trimIdleEvery = time.Minute
)

// trimmer decides, from the runtime's total allocation count sampled once
// per trimEvery, when to trim.
type trimmer struct {
	last, trimmed uint64 // total at the previous sample, at the last trim
	started       bool   // trimmed once after start-up
}

// sample takes the total bytes allocated so far, and whether start-up is
// over (every worker ready), and reports whether to trim now, and whether
// the runner is quiet with nothing left to trim (the loop may sleep).
func (t *trimmer) sample(total uint64, settled bool) (trim, idle bool) {
	quiet := total-t.last < trimQuiet
	t.last = total
	if !quiet {
		return false, false
	}
	if settled && !t.started || total-t.trimmed >= trimAfter {
		// The first quiet second after every worker is ready trims
		// however little start-up allocated: start-up also ran code
		// (package init, the configuration's parser, each worker's
		// start and readiness) that an idle runner does not run again.
		t.started = t.started || settled
		t.trimmed = total
		return true, false
	}
	return false, true
}

// trimLoop runs the trimmer: awake, it samples every period; asleep, it
// waits for poke or idlePeriod.
type trimLoop struct {
	period     time.Duration
	idlePeriod time.Duration
	allocs     func() uint64 // total bytes allocated so far
	trim       func()
	asleep     atomic.Bool
	settled    atomic.Bool // start-up is over
	kick       chan struct{}
}

func newTrimLoop() *trimLoop {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	return &trimLoop{
		period:     trimEvery,
		idlePeriod: trimIdleEvery,
		allocs: func() uint64 {
			// runtime/metrics, though its package init costs 0.07-0.1 ms
			// of every start: runtime.ReadMemStats instead cost 0.3 MiB
			// of idle RSS (32 idle workers, 2.80 against 3.10 MiB).
			metrics.Read(s)
			if s[0].Value.Kind() != metrics.KindUint64 {
				return 0
			}
			return s[0].Value.Uint64()
		},
		trim: func() {
			runtime.GC()
			debug.FreeOSMemory()
			dropCode()
		},
		kick: make(chan struct{}, 1),
	}
}

// poke wakes the loop if it sleeps.
func (l *trimLoop) poke() {
	if l.asleep.Load() && l.asleep.CompareAndSwap(true, false) {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

// settle says start-up is over (every worker is ready): the first quiet
// second after it trims.
func (l *trimLoop) settle() {
	l.settled.Store(true)
	l.poke()
}

// run trims until ctx ends.
func (l *trimLoop) run(ctx context.Context) {
	var t trimmer
	tick := time.NewTicker(l.period)
	defer tick.Stop()
	var kick <-chan struct{} // l.kick while asleep: a stale poke never cuts a second short
	for {
		poked := false
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-kick:
			poked = true
		}
		if kick != nil { // woken by output, or the idle check
			kick = nil
			l.asleep.Store(false)
			tick.Reset(l.period)
			if poked {
				// Output started: sample a second from now, so that
				// lines trickling in wake the loop once a second at most.
				t.last = l.allocs()
				continue
			}
		}
		trim, idle := t.sample(l.allocs(), l.settled.Load())
		if trim {
			l.trim()
			// The trim's own allocations do not count as a burst.
			t.last = l.allocs()
			t.trimmed = t.last
			idle = true
		}
		if !idle {
			continue
		}
		// Sleep until poked. A write between the last sample and now saw
		// the loop awake and did not poke: look once more before sleeping.
		l.asleep.Store(true)
		if l.allocs()-t.last >= trimQuiet {
			l.asleep.Store(false)
			continue
		}
		kick = l.kick
		tick.Reset(l.idlePeriod)
	}
}

// pokeWriter pokes the trim loop on every write.
type pokeWriter struct {
	io.WriteCloser
	l *trimLoop
}

func (w pokeWriter) Write(p []byte) (int, error) {
	w.l.poke()
	return w.WriteCloser.Write(p)
}
