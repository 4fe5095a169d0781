package runner

import "time"

// usage is one reading of a worker's whole process group: the worker and
// every child it did not move elsewhere. groupUsages takes it from /proc on
// Linux (usage_linux.go) and from ps(1) elsewhere (usage_unix.go).
type usage struct {
	cpuTicks uint64 // user+system CPU of every process in the group, in 1/clockTicks s
	rss      int64  // bytes
}

// clockTicks is the unit of usage.cpuTicks: USER_HZ, 100 on every Linux ABI
// Go supports; ps times are converted to it.
const clockTicks = 100

// sampler turns successive usage readings of a worker into CPU %.
type sampler struct {
	at   time.Time
	prev usage
}

// sample returns the worker's CPU % since the previous reading and its RSS.
func (s *sampler) sample(u usage, now time.Time) (cpuPercent float64, rss int64, cpuSeconds float64) {
	if !s.at.IsZero() && u.cpuTicks >= s.prev.cpuTicks {
		wall := now.Sub(s.at).Seconds()
		if wall > 0 {
			cpuPercent = float64(u.cpuTicks-s.prev.cpuTicks) / float64(clockTicks) / wall * 100
		}
	}
	s.at, s.prev = now, u
	return cpuPercent, u.rss, float64(u.cpuTicks) / float64(clockTicks)
}
