package main

import "testing"

// The trimmer trims once after start-up and once after each burst, when the
// runner has gone quiet, and never while output flows or while idle.
func TestTrimmerTrimsOnceAfterEachBurst(t *testing.T) {
	var tr trimmer
	total := uint64(0)
	step := func(alloc uint64) bool {
		total += alloc
		return tr.sample(total)
	}
	// Start-up allocates 3 MiB over the first second, then quiet.
	if step(3 << 20) {
		t.Fatal("trimmed while busy")
	}
	if !step(10 << 10) {
		t.Fatal("no trim once start-up went quiet")
	}
	for i := 0; i < 100; i++ { // idle, with small housekeeping allocations
		if step(4 << 10) {
			t.Fatalf("trimmed again while idle (second %d)", i)
		}
	}
	// A burst: 40 MiB over 5 s, then quiet.
	for i := 0; i < 5; i++ {
		if step(8 << 20) {
			t.Fatalf("trimmed during the burst (second %d)", i)
		}
	}
	if !step(0) {
		t.Fatal("no trim after the burst")
	}
	if step(0) {
		t.Fatal("trimmed twice for one burst")
	}
	// Slow but steady output (200 KiB/s) is not quiet: no trim on every tick.
	for i := 0; i < 20; i++ {
		if step(200 << 10) {
			t.Fatalf("trimmed during steady output (second %d)", i)
		}
	}
	if !step(0) {
		t.Fatal("no trim after steady output stopped")
	}
}
