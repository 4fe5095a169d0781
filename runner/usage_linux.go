//go:build linux && !portable

package runner

import (
	"bytes"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

var pageSize = int64(os.Getpagesize())

// rescanEvery bounds how often, on a kernel without
// /proc/PID/task/TID/children, a reading falls back to one pass over all of
// /proc to find the processes a worker started in its group. Between passes
// only the group leaders and the members found last time are read, so a
// child forked since the last pass is counted from the next one.
const rescanEvery = 30 * time.Second

// walkEvery is how often a reading of a group walks the children files
// from its leader to find its members (and at once for a group it has not
// seen); the readings between read the members found last time: one pread
// each. It is below the max_memory watch's longest interval (sampleMax less
// sampleSlack), so a worker sampled that seldom is walked at every sample:
// a child it forked is counted at the next one.
const walkEvery = 3 * time.Second

// groups remembers each group's members and keeps their files open between
// readings; groupUsages may be called from several goroutines (status
// requests, the max_memory watch), each for its own set of groups.
var groups groupCache

type groupCache struct {
	mu      sync.Mutex
	groups  map[int]*groupState // by pgid
	scanned time.Time           // last pass over all of /proc
	now     time.Time           // this reading's
	noKids  bool                // the kernel has no children files: do not walk
	buf     []byte
	files   procFiles
	seen    map[int]bool // a walk's visited pids
	found   []int        // a walk's members
}

// groupState is what the cache knows of one group.
type groupState struct {
	members []int     // pids seen in it at its last reading
	walked  time.Time // its last walk of the children files
	read    time.Time // its last reading: one not read for rescanEvery is forgotten
}

// procStat is the part of /proc/PID/stat a reading needs.
type procStat struct {
	pgrp, threads int
	ticks         uint64
	rss           int64
}

func (st procStat) usage() usage {
	return usage{cpuTicks: st.ticks, rss: st.rss * pageSize}
}

func (u *usage) add(v usage) {
	u.cpuTicks += v.cpuTicks
	u.rss += v.rss
}

// groupUsages sums CPU time and RSS per process group over the processes
// whose group is one of pgids (a worker and every child it did not move
// elsewhere). It reads only those processes, found from each leader by
// walking /proc/PID/task/TID/children (every walkEvery per group); without
// that file (a kernel built without CONFIG_PROC_CHILDREN) it reads the
// leaders and the members it knew, and passes over all of /proc at most
// every rescanEvery to find new ones.
// Their files stay open between readings (procFiles). ok is false when /proc
// cannot be read.
func groupUsages(_ *reaper, pgids map[int]bool) (_ map[int]usage, ok bool) {
	return groups.read(pgids)
}

// read is groupUsages.
func (g *groupCache) read(pgids map[int]bool) (_ map[int]usage, ok bool) {
	out := make(map[int]usage, len(pgids))
	if len(pgids) == 0 {
		return out, true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.groups == nil {
		g.groups = map[int]*groupState{}
		g.buf = make([]byte, 1024)
		g.files = procFiles{fds: map[string]int{}, used: map[string]time.Time{}}
	}
	g.now = time.Now()
	defer g.sweep()
	read := 0
	var between []int
	for pg := range pgids {
		gs := g.groups[pg]
		if gs == nil {
			gs = &groupState{}
			g.groups[pg] = gs
		}
		gs.read = g.now
		if g.noKids || (!gs.walked.IsZero() && g.now.Sub(gs.walked) < walkEvery) {
			between = append(between, pg)
			continue
		}
		if u, n, walked := g.walk(pg, gs); walked {
			if n > 0 {
				out[pg] = u
			}
			read += n
			continue
		}
		g.noKids = true
		between = append(between, pg)
	}
	// Between walks, or with no children files: the leaders and the members
	// known, and without children files now and then every process.
	if len(between) > 0 && g.noKids && g.now.Sub(g.scanned) >= rescanEvery {
		g.scanned = g.now
		d, err := os.Open("/proc")
		if err != nil {
			return out, false
		}
		names, _ := d.Readdirnames(-1)
		d.Close()
		asked := make(map[int]bool, len(between))
		for _, pg := range between {
			asked[pg] = true
			g.groups[pg].members = nil
		}
		for _, n := range names {
			pid, err := strconv.Atoi(n)
			if err != nil {
				continue
			}
			st, ok := g.readStat(pid, false)
			if ok && asked[st.pgrp] {
				g.readStat(pid, true) // keep it open
				u := out[st.pgrp]
				u.add(st.usage())
				out[st.pgrp] = u
				gs := g.groups[st.pgrp]
				gs.members = append(gs.members, pid)
				read++
			}
		}
		between = nil
	}
	for _, pg := range between {
		gs := g.groups[pg]
		u, n := g.readMembers(pg, gs)
		if n > 0 {
			out[pg] = u
		}
		read += n
	}
	if read == 0 { // every leader gone, or no /proc at all
		_, err := os.Stat("/proc/self/stat")
		return out, err == nil
	}
	return out, true
}

// readMembers reads the members group pg had at its last reading (its
// leader if none), keeping those still in the group.
func (g *groupCache) readMembers(pg int, gs *groupState) (u usage, n int) {
	if len(gs.members) == 0 {
		gs.members = append(gs.members, pg)
	}
	kept := gs.members[:0] // filtered in place: never ahead of the loop
	for _, pid := range gs.members {
		if st, ok := g.readStat(pid, true); ok && st.pgrp == pg {
			u.add(st.usage())
			kept = append(kept, pid)
		}
	}
	gs.members = kept
	return u, len(kept)
}

// walk reads group pg from its leader down the children files and records
// its members in gs: every descendant whose group is pg (one that moved to
// a group of its own is passed over, its descendants are not). walked is
// false when the kernel has no children files; gs is left as it was.
func (g *groupCache) walk(pg int, gs *groupState) (u usage, n int, walked bool) {
	if len(g.seen) > 0 { // a lone leader, the common case, leaves it empty
		clear(g.seen)
	}
	g.found = g.found[:0]
	walked = true
	var visit func(pid int)
	visit = func(pid int) {
		if !walked {
			return
		}
		st, ok := g.readStat(pid, true)
		if !ok {
			return
		}
		if st.pgrp == pg {
			u.add(st.usage())
			g.found = append(g.found, pid)
		}
		kids, ok := g.childrenOf(pid, st.threads)
		if !ok {
			walked = false
			return
		}
		for _, k := range kids {
			if k == pg || g.seen[k] {
				continue // a pid reused during the walk
			}
			if g.seen == nil {
				g.seen = map[int]bool{}
			}
			g.seen[k] = true
			visit(k)
		}
	}
	visit(pg)
	if !walked {
		return usage{}, 0, false
	}
	gs.members = append(gs.members[:0], g.found...)
	gs.walked = g.now
	return u, len(gs.members), true
}

// readStat reads /proc/PID/stat (see readProc for keep).
func (g *groupCache) readStat(pid int, keep bool) (procStat, bool) {
	b, ok := g.readProc("/proc/"+strconv.Itoa(pid)+"/stat", keep)
	if !ok {
		return procStat{}, false
	}
	return parseStat(b)
}

func parseStat(b []byte) (procStat, bool) {
	i := bytes.LastIndexByte(b, ')') // comm may hold spaces and parens
	if i < 0 {
		return procStat{}, false
	}
	// After ')' come field 3 (state) on: pgrp is field 5, utime 14, stime
	// 15, num_threads 20, rss 24.
	var st procStat
	field, n := 2, uint64(0)
	for _, c := range b[i+1:] {
		if c >= '0' && c <= '9' {
			n = n*10 + uint64(c-'0')
			continue
		}
		if c != ' ' && c != '\n' {
			continue // the state letter, a minus sign
		}
		switch field {
		case 5:
			st.pgrp = int(n)
		case 14, 15:
			st.ticks += n
		case 20:
			st.threads = int(n)
		case 24:
			st.rss = int64(n)
			return st, true
		}
		field++
		n = 0
	}
	return procStat{}, false
}

// childrenOf lists pid's children from /proc/PID/task/TID/children: the
// main thread's file alone when the process has one thread, every thread's
// otherwise. ok is false when the kernel has no such file.
func (g *groupCache) childrenOf(pid, threads int) (kids []int, ok bool) {
	p := "/proc/" + strconv.Itoa(pid) + "/task/"
	tids := []string{strconv.Itoa(pid)}
	if threads > 1 {
		d, err := os.Open(p)
		if err != nil {
			return nil, true // gone meanwhile
		}
		tids, _ = d.Readdirnames(-1)
		d.Close()
	}
	for _, tid := range tids {
		b, found := g.readProc(p+tid+"/children", threads == 1)
		if !found {
			if _, err := os.Stat(p + tid); err == nil {
				return nil, false // the thread is there, the file is not
			}
			continue
		}
		for _, f := range bytes.Fields(b) {
			if k, err := strconv.Atoi(string(f)); err == nil {
				kids = append(kids, k)
			}
		}
	}
	return kids, true
}

// procFiles keeps /proc files of the processes in the groups open between
// readings, so a reading is one pread each (no path lookup, no open or
// close). A file whose process is gone fails its read and is closed; one not
// read for rescanEvery (its group no longer asked about) is closed too.
type procFiles struct {
	fds  map[string]int
	used map[string]time.Time
}

// readProc reads a small /proc file into buf, from the file kept open when
// keep is set; it reads on while buf fills (a long children list).
func (g *groupCache) readProc(path string, keep bool) ([]byte, bool) {
	fd, ok := g.files.fds[path]
	if !ok {
		var err error
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			return nil, false
		}
		if keep {
			g.files.fds[path] = fd
		} else {
			defer syscall.Close(fd)
		}
	}
	if keep {
		g.files.used[path] = g.now
	}
	n := 0
	for {
		if n == len(g.buf) {
			g.buf = append(g.buf, make([]byte, len(g.buf))...)
		}
		m, err := syscall.Pread(fd, g.buf[n:], int64(n))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			if keep {
				g.forget(path)
			}
			return nil, false
		}
		n += m
		if m == 0 || n < len(g.buf) {
			return g.buf[:n], true
		}
	}
}

// forget closes a kept file.
func (g *groupCache) forget(path string) {
	if fd, ok := g.files.fds[path]; ok {
		syscall.Close(fd)
		delete(g.files.fds, path)
		delete(g.files.used, path)
	}
}

// sweep closes the kept files not read for rescanEvery, and forgets the
// groups not asked about for as long.
func (g *groupCache) sweep() {
	for path, at := range g.files.used {
		if g.now.Sub(at) >= rescanEvery {
			g.forget(path)
		}
	}
	for pg, gs := range g.groups {
		if g.now.Sub(gs.read) >= rescanEvery {
			delete(g.groups, pg)
		}
	}
}
