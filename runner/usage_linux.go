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

// walkEvery is how often a reading walks the children files from each
// leader to find the group's members (and at once for a group it has not
// seen); the readings between read the members found last time: one pread
// each.
const walkEvery = 5 * time.Second

// groups remembers each group's members and keeps their files open between
// readings; groupUsages may be called from several goroutines (status
// requests, the max_memory watch).
var groups groupCache

type groupCache struct {
	mu      sync.Mutex
	members map[int][]int // pgid -> pids seen in it at the last reading
	scanned time.Time     // last pass over all of /proc
	walked  time.Time     // last walk of the children files
	now     time.Time     // this reading's
	noKids  bool          // the kernel has no children files: do not walk
	buf     []byte
	files   procFiles
}

// procStat is the part of /proc/PID/stat a reading needs.
type procStat struct {
	pgrp, threads int
	ticks         uint64
	rss           int64
}

// groupUsages sums CPU time and RSS per process group over the processes
// whose group is one of pgids (a worker and every child it did not move
// elsewhere). It reads only those processes, found from each leader by
// walking /proc/PID/task/TID/children (every walkEvery); without that file
// (a kernel built without CONFIG_PROC_CHILDREN) it reads the leaders and the
// members it knew, and passes over all of /proc at most every rescanEvery to
// find new ones.
// Their files stay open between readings (procFiles). ok is false when /proc
// cannot be read.
func groupUsages(_ *reaper, pgids map[int]bool) (_ map[int]usage, ok bool) {
	out := make(map[int]usage, len(pgids))
	if len(pgids) == 0 {
		return out, true
	}
	g := &groups
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.members == nil {
		g.members = map[int][]int{}
		g.buf = make([]byte, 1024)
		g.files = procFiles{fds: map[string]int{}, used: map[string]time.Time{}}
	}
	g.now = time.Now()
	defer g.sweep()
	add := func(st procStat) {
		u := out[st.pgrp]
		u.cpuTicks += st.ticks
		u.rss += st.rss * pageSize
		out[st.pgrp] = u
	}
	walk := !g.noKids && g.now.Sub(g.walked) >= walkEvery
	for pg := range pgids {
		if _, known := g.members[pg]; !known {
			walk = walk || !g.noKids // a new worker: find its group now
		}
	}
	members := make(map[int][]int, len(pgids))
	read, walked := 0, walk
	for pg := range pgids {
		if !walked {
			break
		}
		seen := map[int]bool{}
		var visit func(pid int)
		visit = func(pid int) {
			if seen[pid] {
				return
			}
			seen[pid] = true
			st, ok := g.readStat(pid, true)
			if !ok {
				return
			}
			read++
			if pgids[st.pgrp] {
				add(st)
				members[st.pgrp] = append(members[st.pgrp], pid)
			}
			kids, ok := g.childrenOf(pid, st.threads)
			if !ok {
				walked, g.noKids = false, true
				return
			}
			for _, k := range kids {
				visit(k)
			}
		}
		visit(pg)
	}
	if walked {
		g.members, g.walked = members, g.now
		if read == 0 { // every leader gone, or no /proc at all
			_, err := os.Stat("/proc/self/stat")
			return out, err == nil
		}
		return out, true
	}
	// Between walks, or with no children files: the leaders and the members
	// known, and without children files now and then every process.
	clear(out)
	members = map[int][]int{}
	if g.noKids && g.now.Sub(g.scanned) >= rescanEvery {
		g.scanned = g.now
		d, err := os.Open("/proc")
		if err != nil {
			return out, false
		}
		names, _ := d.Readdirnames(-1)
		d.Close()
		for _, n := range names {
			pid, err := strconv.Atoi(n)
			if err != nil {
				continue
			}
			st, ok := g.readStat(pid, false)
			if ok && pgids[st.pgrp] {
				g.readStat(pid, true) // keep it open
				add(st)
				members[st.pgrp] = append(members[st.pgrp], pid)
			}
		}
		g.members = members
		return out, true
	}
	for pg := range pgids {
		pids := append([]int{pg}, g.members[pg]...)
		for i, pid := range pids {
			if i > 0 && pid == pg {
				continue // the leader, listed again among the members
			}
			if st, ok := g.readStat(pid, true); ok && st.pgrp == pg {
				add(st)
				members[pg] = append(members[pg], pid)
			}
		}
	}
	g.members = members
	return out, true
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

// sweep closes the kept files not read for rescanEvery.
func (g *groupCache) sweep() {
	for path, at := range g.files.used {
		if g.now.Sub(at) >= rescanEvery {
			g.forget(path)
		}
	}
}
