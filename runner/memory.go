package runner

import (
	"fmt"
	"time"
)

// watchMemory replaces, with a rolling restart, any worker whose process
// group stays above its type's max_memory for two samples a second apart.
// It reads only the groups of workers whose type has a limit (/proc on
// Linux, ps elsewhere); while they are unknown it says so once and cannot act.
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
			ws, err := r.limitedWorkers()
			if err != nil {
				return
			}
			pgids := make(map[int]bool, len(ws))
			for _, w := range ws {
				pgids[w.pid] = true
			}
			usages, known := groupUsages(r.rp, pgids)
			if len(ws) > 0 && !known && !warned {
				warned = true
				r.event("", "max_memory", "max_memory cannot be enforced: the workers' memory cannot be read (from /proc on Linux, with ps elsewhere)", 0, nil)
			}
			seen := map[int]int{}
			for _, w := range ws {
				rss, ok := usages[w.pid]
				if !known || !ok || rss.rss <= w.limit {
					continue
				}
				seen[w.pid] = over[w.pid] + 1
				if seen[w.pid] == 2 {
					r.event(w.name, "max_memory", fmt.Sprintf("%s uses %d MiB, above max_memory %d MiB: replacing it", w.name, rss.rss>>20, w.limit>>20), w.pid, map[string]any{"rss_bytes": rss.rss})
					r.Restart(w.name)
				}
			}
			over = seen
		}
	}()
}

// limitedWorker is a running worker whose type has a max_memory.
type limitedWorker struct {
	name  string
	pid   int
	limit int64
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
				ws = append(ws, limitedWorker{name: i.Name, pid: i.PID, limit: lim})
			}
		}
	})
	return ws, err
}
