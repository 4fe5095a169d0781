package main

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// The trimmer trims once after start-up and once after each burst, when the
// runner has gone quiet, and never while output flows or while idle.
func TestTrimmerTrimsOnceAfterEachBurst(t *testing.T) {
	var tr trimmer
	total := uint64(0)
	step := func(alloc uint64) (trim, idle bool) {
		total += alloc
		return tr.sample(total, true)
	}
	// Start-up allocates 3 MiB over the first second, then quiet.
	if trim, idle := step(3 << 20); trim || idle {
		t.Fatalf("busy start-up: trim %v, idle %v", trim, idle)
	}
	if trim, _ := step(10 << 10); !trim {
		t.Fatal("no trim once start-up went quiet")
	}
	for i := 0; i < 100; i++ { // idle, with small housekeeping allocations
		if trim, idle := step(4 << 10); trim || !idle {
			t.Fatalf("idle second %d: trim %v, idle %v", i, trim, idle)
		}
	}
	// A burst: 40 MiB over 5 s, then quiet.
	for i := 0; i < 5; i++ {
		if trim, idle := step(8 << 20); trim || idle {
			t.Fatalf("burst second %d: trim %v, idle %v", i, trim, idle)
		}
	}
	if trim, _ := step(0); !trim {
		t.Fatal("no trim after the burst")
	}
	if trim, _ := step(0); trim {
		t.Fatal("trimmed twice for one burst")
	}
	// Slow but steady output (200 KiB/s) is not quiet: no trim on every tick.
	for i := 0; i < 20; i++ {
		if trim, idle := step(200 << 10); trim || idle {
			t.Fatalf("steady output, second %d: trim %v, idle %v", i, trim, idle)
		}
	}
	if trim, _ := step(0); !trim {
		t.Fatal("no trim after steady output stopped")
	}
}

// A start-up that allocated little still trims, once every worker is ready
// and the runner is quiet: what it ran (package init, the configuration's
// parser, the workers' starts) is code an idle runner does not run again,
// whose pages dropCode returns.
func TestTrimmerTrimsAfterASmallStartUp(t *testing.T) {
	var tr trimmer
	if trim, idle := tr.sample(300<<10, false); trim || idle {
		t.Fatalf("busy start-up: trim %v, idle %v", trim, idle)
	}
	if trim, idle := tr.sample(310<<10, false); trim || !idle {
		t.Fatalf("quiet, workers not ready yet: trim %v, idle %v", trim, idle)
	}
	if trim, _ := tr.sample(320<<10, true); !trim {
		t.Fatal("no trim once a small start-up was over and quiet")
	}
	if trim, idle := tr.sample(330<<10, true); trim || !idle {
		t.Fatalf("idle after the trim: trim %v, idle %v", trim, idle)
	}
}

// fakeTrim runs a trim loop on a fake allocation counter, counting samples
// and trims, until the test ends.
type fakeTrim struct {
	l                         *trimLoop
	allocated, samples, trims atomic.Uint64
}

func startTrimLoop(t *testing.T, idlePeriod time.Duration) *fakeTrim {
	f := &fakeTrim{}
	f.l = &trimLoop{
		period:     5 * time.Millisecond,
		idlePeriod: idlePeriod,
		allocs:     func() uint64 { f.samples.Add(1); return f.allocated.Load() },
		trim:       func() { f.trims.Add(1) },
		kick:       make(chan struct{}, 1),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.l.run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return f
}

// waitFor polls cond for 10 s at most.
func (f *fakeTrim) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (trims %d, samples %d, asleep %v)", what, f.trims.Load(), f.samples.Load(), f.l.asleep.Load())
		}
		time.Sleep(time.Millisecond)
	}
}

// The loop trims after start-up, then sleeps (no more samples) until a
// write pokes it; a burst after that is trimmed once it goes quiet.
func TestTrimLoopSleepsUntilPoked(t *testing.T) {
	f := startTrimLoop(t, time.Hour)
	f.allocated.Store(3 << 20) // start-up
	f.waitFor(t, "the start-up trim", func() bool { return f.trims.Load() == 1 })
	f.waitFor(t, "sleep", f.l.asleep.Load)
	n := f.samples.Load()
	// Asleep: allocations that poke nobody (a status request) wake nothing.
	f.allocated.Add(2 << 20)
	time.Sleep(20 * f.l.period) // what must NOT happen: a sample in 20 periods
	if got := f.samples.Load(); got != n {
		t.Fatalf("%d samples while asleep", got-n)
	}
	// Output pokes it: it wakes, sees 2 MiB since the last trim, and trims
	// once the output is quiet.
	f.l.poke()
	f.waitFor(t, "the trim after the burst", func() bool { return f.trims.Load() == 2 })
	f.waitFor(t, "sleep again", f.l.asleep.Load)
	if got := f.trims.Load(); got != 2 {
		t.Fatalf("%d trims, want 2", got)
	}
}

// Asleep, the loop still looks every idlePeriod: what was allocated without
// any output (control requests) is trimmed then.
func TestTrimLoopIdleCheck(t *testing.T) {
	f := startTrimLoop(t, 50*time.Millisecond)
	f.waitFor(t, "sleep", f.l.asleep.Load)
	f.allocated.Add(2 << 20) // no poke
	f.waitFor(t, "a trim from the idle check", func() bool { return f.trims.Load() > 0 })
}
