//go:build linux && !portable

package runner

import (
	"os"
	"strconv"
	"strings"
)

var pageSize = int64(os.Getpagesize())

// groupUsages sums CPU time and RSS per process group over the processes
// whose group is one of pgids (a worker and every child it did not move
// elsewhere), in one pass over /proc. ok is false when /proc cannot be read.
func groupUsages(_ *reaper, pgids map[int]bool) (_ map[int]usage, ok bool) {
	out := make(map[int]usage, len(pgids))
	d, err := os.Open("/proc")
	if err != nil {
		return out, false
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
	return out, true
}
