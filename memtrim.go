package main

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Returning memory after a burst. The Go runtime keeps a small heap (up to
// 4 MiB) uncollected, and what a burst of output grew (stacks of the copy
// goroutines, pooled buffers, freed spans) comes back to the system only
// slowly, if at all, while the runner sits idle for hours. So once the
// runner has allocated trimAfter since the last trim and then allocates
// less than trimQuiet in a second, it collects twice (a sync.Pool keeps
// its buffers through one collection) and returns the free pages at once:
// start-up and every burst are followed by one trim, an idle runner never
// trims again. One trim of a small heap costs well under a millisecond.
const (
	trimAfter = 1 << 20   // bytes allocated since the last trim
	trimQuiet = 128 << 10 // bytes allocated over the last second: quiet
	trimEvery = time.Second
)

// trimmer decides, from the runtime's total allocation count sampled once
// per trimEvery, when to trim.
type trimmer struct {
	last, trimmed uint64 // total at the previous sample, at the last trim
}

// sample takes the total bytes allocated so far and reports whether to
// trim now.
func (t *trimmer) sample(total uint64) bool {
	quiet := total-t.last < trimQuiet
	t.last = total
	if quiet && total-t.trimmed >= trimAfter {
		t.trimmed = total
		return true
	}
	return false
}

// trimWhenQuiet runs until ctx ends.
func trimWhenQuiet(ctx context.Context) {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	var t trimmer
	tick := time.NewTicker(trimEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		metrics.Read(s)
		if s[0].Value.Kind() == metrics.KindUint64 && t.sample(s[0].Value.Uint64()) {
			runtime.GC()
			debug.FreeOSMemory()
			metrics.Read(s) // the trim's own allocations do not count as a burst
			t.last, t.trimmed = s[0].Value.Uint64(), s[0].Value.Uint64()
		}
	}
}
