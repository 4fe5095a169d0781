package runner

import (
	"fmt"
	"time"
)

// watchMemory replaces, with a rolling restart, any worker whose process
// group stays above its type's max_memory for two samples a second apart.
// The readings are status's (/proc on Linux, ps elsewhere); while they are
// unknown it says so once and cannot act.
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
		over := map[int]int{} // pid -> consecutive samples above the limit
		warned := false
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-r.loopDone:
				return
			case <-tick.C:
			}
			st, err := r.Status()
			if err != nil {
				return
			}
			limits := map[string]int64{}
			r.ask(func() {
				for _, t := range r.types {
					limits[t.p.Name] = t.p.MaxMemory
				}
			})
			seen := map[int]int{}
			for _, w := range st.Workers {
				lim := limits[w.Process]
				if lim > 0 && w.UsageUnknown && !warned {
					warned = true
					r.event("", "max_memory", "max_memory cannot be enforced: the workers' memory cannot be read (from /proc on Linux, with ps elsewhere)", 0, nil)
				}
				if lim <= 0 || w.PID <= 0 || w.State == StateStopping || w.RSS <= lim {
					continue
				}
				seen[w.PID] = over[w.PID] + 1
				if seen[w.PID] == 2 {
					r.event(w.Name, "max_memory", fmt.Sprintf("%s uses %d MiB, above max_memory %d MiB: replacing it", w.Name, w.RSS>>20, lim>>20), w.PID, map[string]any{"rss_bytes": w.RSS})
					r.Restart(w.Name)
				}
			}
			over = seen
		}
	}()
}
