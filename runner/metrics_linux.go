package runner

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// usage is what /proc says of one worker's whole process group.
type usage struct {
	cpuTicks uint64 // utime+stime of every process in the group
	rss      int64  // bytes
}

var (
	clockTicks = uint64(100) // USER_HZ: 100 on every Linux ABI Go supports
	pageSize   = int64(os.Getpagesize())
)

// groupUsages sums CPU time and RSS per process group over the processes
// whose group is one of pgids (a worker and every child it did not move
// elsewhere), in one pass over /proc.
func groupUsages(pgids map[int]bool) map[int]usage {
	out := make(map[int]usage, len(pgids))
	d, err := os.Open("/proc")
	if err != nil {
		return out
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	for _, n := range names {
		if n[0] < '0' || n[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + n + "/stat")
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		// f[0] is field 3 (state): pgrp is field 5, utime 14, stime 15, rss 24.
		if len(f) < 22 {
			continue
		}
		pg, _ := strconv.Atoi(f[2])
		if !pgids[pg] {
			continue
		}
		ut, _ := strconv.ParseUint(f[11], 10, 64)
		st, _ := strconv.ParseUint(f[12], 10, 64)
		rss, _ := strconv.ParseInt(f[21], 10, 64)
		u := out[pg]
		u.cpuTicks += ut + st
		u.rss += rss * pageSize
		out[pg] = u
	}
	return out
}

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
