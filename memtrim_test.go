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
		return tr.sample(total)
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

// The loop trims after start-up, then sleeps (no more samples) until a
// write pokes it; a burst after that is trimmed once it goes quiet.
func TestTrimLoopSleepsUntilPoked(t *testing.T) {
	var allocated, samples, trims atomic.Uint64
	l := &trimLoop{
		period:     5 * time.Millisecond,
		idlePeriod: time.Hour,
		allocs:     func() uint64 { samples.Add(1); return allocated.Load() },
		trim:       func() { trims.Add(1) },
		kick:       make(chan struct{}, 1),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s (trims %d, samples %d, asleep %v)", what, trims.Load(), samples.Load(), l.asleep.Load())
			}
			time.Sleep(time.Millisecond)
		}
	}
	allocated.Store(3 << 20) // start-up
	waitFor("the start-up trim", func() bool { return trims.Load() == 1 })
	waitFor("sleep", l.asleep.Load)
	n := samples.Load()
	// Asleep: allocations that poke nobody (a status request) wake nothing.
	allocated.Add(2 << 20)
	time.Sleep(20 * l.period) // what must NOT happen: a sample in 20 periods
	if got := samples.Load(); got != n {
		t.Fatalf("%d samples while asleep", got-n)
	}
	// Output pokes it: it wakes, sees 2 MiB since the last trim, and trims
	// once the output is quiet.
	l.poke()
	waitFor("the trim after the burst", func() bool { return trims.Load() == 2 })
	waitFor("sleep again", l.asleep.Load)
	if trims.Load() != 2 {
		t.Fatalf("%d trims, want 2", trims.Load())
	}
}

// Asleep, the loop still looks every idlePeriod: what was allocated without
// any output (control requests) is trimmed then.
func TestTrimLoopIdleCheck(t *testing.T) {
	var allocated, trims atomic.Uint64
	l := &trimLoop{
		period:     5 * time.Millisecond,
		idlePeriod: 50 * time.Millisecond,
		allocs:     func() uint64 { return allocated.Load() },
		trim:       func() { trims.Add(1) },
		kick:       make(chan struct{}, 1),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for !l.asleep.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the loop never went to sleep")
		}
		time.Sleep(time.Millisecond)
	}
	allocated.Add(2 << 20) // no poke
	for trims.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no trim from the idle check")
		}
		time.Sleep(time.Millisecond)
	}
}
