package runner

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The schedule: far below the limit the longest interval, near it or above
// it every second, and a worker seen growing fast is sampled sooner than
// growthBound alone would have it.
func TestSampleInterval(t *testing.T) {
	const mib = 1 << 20
	g := int64(growthBound)
	for _, c := range []struct {
		name       string
		rss, limit int64
		rate       float64
		want       time.Duration
	}{
		{"idle, far below", 1 * mib, 4*g + 2*mib, 0, sampleMax},
		{"shrinking, far below", 1 * mib, 4*g + 2*mib, -100 * mib, sampleMax},
		{"near the limit", 900 * mib, 900*mib + g/2, 0, sampleMin},
		{"at the limit", 900 * mib, 900 * mib, 0, sampleMin},
		{"above the limit", 1000 * mib, 900 * mib, 0, sampleMin},
		{"two bounds below", 0, 2 * g, 0, 2 * time.Second},
		{"far below, growing at the bound", 0, 4 * g, float64(g), 2 * time.Second},
		{"far below, growing at 4x the bound", 0, 4 * g, float64(4 * g), sampleMin},
	} {
		if got := sampleInterval(c.rss, c.limit, c.rate); got != c.want {
			t.Errorf("%s: sampleInterval(%d, %d, %.0f) = %s, want %s", c.name, c.rss, c.limit, c.rate, got, c.want)
		}
	}
}

// A worker that idles far below its limit gets the longest interval; when
// it then allocates past the limit between two samples (faster than the
// schedule was sized for), it is still caught and replaced. The bound is
// scaled down so that a 128 MiB limit and a 200 MiB allocation exercise it.
func TestMaxMemoryCatchesAWorkerThatGrowsLate(t *testing.T) {
	saved := growthBound
	growthBound = 16 << 20 // 128 MiB of headroom: 8 s, so sampleMax
	var mu sync.Mutex
	intervals := map[int][]time.Duration{} // pid -> next interval after each sample
	memorySampled = func(pid int, rss int64, next time.Duration) {
		mu.Lock()
		intervals[pid] = append(intervals[pid], next)
		mu.Unlock()
	}
	t.Cleanup(func() { growthBound, memorySampled = saved, nil }) // after the runner stops (cleanups run last first)

	grow := filepath.Join(t.TempDir(), "grow")
	// dd holds its 200 MiB buffer while it blocks writing to a pipe nobody reads.
	p := shProc("hog", `echo up; while [ ! -f `+grow+` ]; do sleep 0.1; done; dd if=/dev/zero bs=209715200 count=1 2>/dev/null | sleep 1000`)
	p.MaxMemory = 128 << 20
	rn := start(t, Options{Config: config(p)})

	var pid int
	deadline := time.Now().Add(60 * time.Second)
	for {
		if time.Now().After(deadline) {
			mu.Lock()
			t.Fatalf("the idle worker (pid %d) never got the longest interval %s: %v", pid, sampleMax, intervals)
		}
		if st, err := rn.r.Status(); err == nil && len(st.Workers) == 1 {
			pid = st.Workers[0].PID
		}
		mu.Lock()
		long := pid > 0 && len(intervals[pid]) > 0 && intervals[pid][len(intervals[pid])-1] == sampleMax
		mu.Unlock()
		if long {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}

	grown := time.Now()
	if err := os.WriteFile(grow, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(60 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("not replaced: %q", rn.rec.messages())
		}
		replaced := false
		for _, m := range rn.rec.messages() {
			if strings.Contains(m, "hog.1 uses") && strings.Contains(m, "above max_memory 128 MiB: replacing it") {
				replaced = true
			}
		}
		if replaced {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	os.Remove(grow) // the replacement idles
	t.Logf("replaced %s after it started to allocate (schedule at most %s + %s)", time.Since(grown).Round(time.Millisecond), sampleMax, sampleMin)
	mu.Lock()
	defer mu.Unlock()
	if n := len(intervals[pid]); n < 2 || intervals[pid][n-1] != sampleMin || intervals[pid][n-2] != sampleMin {
		t.Errorf("the samples above the limit should be a second apart: %v", intervals[pid])
	}
}

// A max_memory below what a fresh worker uses: the worker is replaced once,
// and when its replacement is above the limit from its start too, that is
// said once, with the numbers, and the replacement is left for memoryRetry
// (30 s) instead of being replaced every 2 s.
func TestMaxMemoryBelowAFreshWorker(t *testing.T) {
	var mu sync.Mutex
	samples := map[int]int{} // pid -> samples
	memorySampled = func(pid int, rss int64, next time.Duration) {
		mu.Lock()
		samples[pid]++
		mu.Unlock()
	}
	t.Cleanup(func() { memorySampled = nil }) // after the runner stops (cleanups run last first)
	p := shProc("hog", `echo up; exec sleep 1000`)
	p.MaxMemory = 256 << 10 // below any process's RSS
	rn := start(t, Options{Config: config(p)})
	rn.waitEvents(t, "hog.1 uses", 1, 30*time.Second)
	hint := regexp.MustCompile(`^hog\.1 uses (\d+ KiB|\d+\.\d+ MiB) from its start, above max_memory 256 KiB: max_memory is below what a fresh hog worker uses \(raise it\); it is replaced again in 30s, not at once$`)
	var held int
	deadline := time.Now().Add(30 * time.Second)
	for held == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no hint that max_memory is below a fresh worker's use: %q", rn.rec.messages())
		}
		_, evs := rn.rec.snapshot()
		for _, e := range evs {
			if hint.MatchString(e.Message) {
				held = e.PID
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	at := samples[held]
	mu.Unlock()
	// Three more samples, a second apart: it used to be replaced at the
	// second of them.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		n := samples[held]
		mu.Unlock()
		if n >= at+3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the held worker %d was sampled %d times more, want 3: %q", held, n-at, rn.rec.messages())
		}
	}
	replaced := 0
	for _, m := range rn.rec.messages() {
		if strings.HasSuffix(m, ": replacing it") {
			replaced++
		}
	}
	if replaced != 1 {
		t.Errorf("%d replacements, want 1: %q", replaced, rn.rec.messages())
	}
	if st := statusOf(t, rn); len(st.Workers) != 1 || st.Workers[0].PID != held {
		t.Errorf("workers %+v, want the held one (pid %d) alone", st.Workers, held)
	}
}
