package runner

import (
	"fmt"
	"strconv"
	"time"
)

// The max_memory watch samples each limited worker on its own schedule,
// from one goroutine and one timer: a worker far below its limit less often,
// one near it (or above it) every second. Variables only for tests.
var (
	// sampleMin is the interval of a worker near or above its limit: one
	// above it is replaced at its second sample above, a second later.
	sampleMin = time.Second
	// sampleMax bounds the interval of a worker far below its limit, and how
	// long a newly ready worker waits for its first sample: a worker that
	// jumps from far below to above its limit faster than growthBound
	// allows is replaced within sampleMax+sampleMin of crossing it.
	sampleMax = 4 * time.Second
	// growthBound is the growth rate (bytes a second, of the whole group)
	// a worker's schedule is sized for: it is sampled again before growing
	// at that rate could take it over its limit, so it is seen above it
	// within sampleMin of crossing. Leaks, caches and heaps that grow with
	// load grow far slower; a worker seen growing faster is sized for twice
	// its rate instead.
	growthBound float64 = 256 << 20
	// sampleSlack batches the wake-ups: a worker due within it of a
	// wake-up is sampled then.
	sampleSlack = 500 * time.Millisecond
	// memorySampled, when set (by tests), sees each sample and the time
	// to the worker's next.
	memorySampled func(pid int, rss int64, next time.Duration)
	// memoryRetry: a worker still above its limit this long after its
	// replacement was asked for (the replacement failed, say) is replaced
	// again. Long enough for a replacement that is slow to get ready.
	memoryRetry = 30 * time.Second
)

// sampleInterval is how long a worker whose group uses rss bytes of its
// limit, and grew at rate bytes a second since its previous sample, may go
// until its next sample: the time growing at growthBound (or at twice rate
// when that is faster) takes to reach the limit, within [sampleMin,
// sampleMax].
func sampleInterval(rss, limit int64, rate float64) time.Duration {
	r := max(growthBound, 2*rate)
	d := time.Duration(float64(limit-rss) / r * float64(time.Second))
	return min(max(d, sampleMin), sampleMax)
}

// watchedWorker is the max_memory watch's schedule for one worker.
type watchedWorker struct {
	next  time.Time // its next sample
	at    time.Time // its last sample
	rss   int64     // at its last sample
	over  int       // consecutive samples above the limit
	below bool      // a sample found it at or below the limit
	held  bool      // it was above from its start, and not replaced at once (see sampleWorker)
	retry time.Time // a replacement was asked for, or held off: ask from then if still above
}

// memoryWatch is what the max_memory watch knows across workers.
type memoryWatch struct {
	sched map[int]*watchedWorker // by pid
	// replacing: the pid of the worker replaced for its memory, by worker
	// name; another worker of that name is its replacement.
	replacing map[string]int
	told      map[string]int64 // types told their limit is below a fresh worker's use: the limit told
}

// watchMemory replaces, with a rolling restart, any worker whose process
// group stays above its type's max_memory for two samples a second apart.
// It reads only the groups of workers whose type has a limit (/proc on
// Linux, ps elsewhere), each when it is due (sampleInterval); while they
// are unknown it says so once and cannot act.
//
// It runs on the supervisor goroutine: at start, and when Apply adds a limit.
func (r *Runner) watchMemory() {
	limited := false
	for _, t := range r.types {
		if t.p.MaxMemory > 0 {
			limited = true
		}
	}
	if !limited || r.memoryWatched {
		return
	}
	r.memoryWatched = true
	r.background.Add(1)
	go func() {
		defer r.background.Done()
		mw := &memoryWatch{sched: map[int]*watchedWorker{}, replacing: map[string]int{}, told: map[string]int64{}}
		sched := mw.sched
		warned := false
		timer := time.NewTimer(sampleMin)
		defer timer.Stop()
		for {
			select {
			case <-r.loopDone:
				return
			case <-timer.C:
			}
			ws, err := r.limitedWorkers()
			if err != nil {
				return
			}
			now := time.Now()
			due := make(map[int]bool, len(ws))
			live := make(map[int]bool, len(ws))
			for _, w := range ws {
				live[w.pid] = true
				ww := sched[w.pid]
				if ww == nil {
					ww = &watchedWorker{next: now}
					sched[w.pid] = ww
				}
				if !ww.next.After(now.Add(sampleSlack)) {
					due[w.pid] = true
				}
			}
			for pid := range sched {
				if !live[pid] {
					delete(sched, pid)
				}
			}
			var usages map[int]usage
			known := true
			if len(due) > 0 {
				usages, known = groupUsages(r.rp, due)
			}
			if len(due) > 0 && !known && !warned {
				warned = true
				r.event("", "max_memory", "max_memory cannot be enforced: the workers' memory cannot be read (from /proc on Linux, with ps elsewhere)", 0, nil)
			}
			wake := now.Add(sampleMax)
			for _, w := range ws {
				ww := sched[w.pid]
				if due[w.pid] {
					r.sampleWorker(mw, w, ww, usages, known, now)
				}
				if ww.next.Before(wake) {
					wake = ww.next
				}
			}
			timer.Reset(max(wake.Sub(now), sampleMin))
		}
	}()
}

// sampleWorker judges one due worker's reading and schedules its next.
func (r *Runner) sampleWorker(mw *memoryWatch, w limitedWorker, ww *watchedWorker, usages map[int]usage, known bool, now time.Time) {
	u, ok := usages[w.pid]
	if !known || !ok {
		ww.next, ww.over = now.Add(sampleMin), 0
		return
	}
	rate := 0.0
	if !ww.at.IsZero() && now.After(ww.at) {
		rate = float64(u.rss-ww.rss) / now.Sub(ww.at).Seconds()
	}
	ww.at, ww.rss = now, u.rss
	if u.rss <= w.limit {
		ww.next, ww.over, ww.below = now.Add(sampleInterval(u.rss, w.limit, rate)), 0, true
		delete(mw.replacing, w.name)
	} else {
		ww.next = now.Add(sampleMin)
		ww.over++
	}
	if memorySampled != nil {
		// Before what the sample leads to: a test that sees the
		// replacement has seen the sample that caused it.
		memorySampled(w.pid, u.rss, ww.next.Sub(now))
	}
	if ww.over < 2 || now.Before(ww.retry) {
		return
	}
	ww.retry = now.Add(memoryRetry)
	if old, ok := mw.replacing[w.name]; ok && old != w.pid && !ww.below && !ww.held {
		// The replacement of a worker replaced for its memory is above the
		// limit from its first samples on: a fresh worker needs more than
		// max_memory, and replacing it again at once would loop. It is
		// treated as a failed replacement: tried again memoryRetry later.
		ww.held = true
		if mw.told[w.process] != w.limit {
			mw.told[w.process] = w.limit
			use, limit := sizesText(u.rss, w.limit)
			r.event(w.name, "max_memory", fmt.Sprintf("%s uses %s from its start, above max_memory %s: max_memory is below what a fresh %s worker uses (raise it); it is replaced again in %s, not at once",
				w.name, use, limit, w.process, memoryRetry), w.pid, map[string]any{"rss_bytes": u.rss})
		}
		return
	}
	mw.replacing[w.name] = w.pid
	use, limit := sizesText(u.rss, w.limit)
	r.event(w.name, "max_memory", fmt.Sprintf("%s uses %s, above max_memory %s: replacing it", w.name, use, limit), w.pid, map[string]any{"rss_bytes": u.rss})
	r.Restart(w.name)
}

// sizesText is a worker's use and the max_memory it is above. The use reads
// as status shows it (KiB whole, MiB and GiB with one decimal), with more
// decimals when those would read it as equal to or below the limit (1.6 MiB
// read "1 MiB, above max_memory 1 MiB"). The limit reads exactly, in the
// largest unit it is a whole number of (as it was most likely written:
// "256 KiB", "512 MB").
func sizesText(use, limit int64) (string, string) {
	unit, name, decimals := int64(1<<10), "KiB", 0
	switch {
	case use >= 1<<30:
		unit, name, decimals = 1<<30, "GiB", 1
	case use >= 1<<20:
		unit, name, decimals = 1<<20, "MiB", 1
	}
	u := float64(use) / float64(unit)
	for use > limit && decimals < 10 { // 10: below a byte of a GiB
		r, _ := strconv.ParseFloat(strconv.FormatFloat(u, 'f', decimals, 64), 64)
		if r*float64(unit) > float64(limit) {
			break
		}
		decimals++
	}
	return strconv.FormatFloat(u, 'f', decimals, 64) + " " + name, LimitText(limit)
}

// LimitText is a max_memory as the messages and `cluster check` show it:
// exactly, in the largest unit it is a whole number of (as it was most
// likely written: "256 MiB", "512 MB"), else in bytes.
func LimitText(limit int64) string {
	for _, lu := range []struct {
		n    int64
		name string
	}{{1 << 30, "GiB"}, {1e9, "GB"}, {1 << 20, "MiB"}, {1e6, "MB"}, {1 << 10, "KiB"}, {1e3, "KB"}} {
		if limit > 0 && limit%lu.n == 0 {
			return strconv.FormatInt(limit/lu.n, 10) + " " + lu.name
		}
	}
	if limit == 1 {
		return "1 byte"
	}
	return strconv.FormatInt(limit, 10) + " bytes"
}

// limitedWorker is a running worker whose type has a max_memory.
type limitedWorker struct {
	name    string // "web.1"
	process string // "web"
	pid     int
	limit   int64
}

// limitedWorkers lists the ready workers of the types with a max_memory: one
// still starting is its readiness check's to judge (a replacement that is
// slow to come up is not replaced again before it is ready), one stopping is
// on its way out.
func (r *Runner) limitedWorkers() ([]limitedWorker, error) {
	var ws []limitedWorker
	err := r.ask(func() {
		limits := map[string]int64{}
		for _, t := range r.types {
			if t.p.MaxMemory > 0 {
				limits[t.p.Name] = t.p.MaxMemory
			}
		}
		for s := range r.live {
			s.mu.Lock()
			i := s.info
			s.mu.Unlock()
			if lim := limits[i.Process]; lim > 0 && i.PID > 0 && i.State == StateReady {
				ws = append(ws, limitedWorker{name: i.Name, process: i.Process, pid: i.PID, limit: lim})
			}
		}
	})
	return ws, err
}
