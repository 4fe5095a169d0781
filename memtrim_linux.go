package main

import (
	"bufio"
	"os"
	"reflect"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// dropCode returns the pages of the executable's code and read-only data
// from the runner's resident set to the page cache, where they stay. Most
// of what is resident there ran once, at start-up (package init, the
// configuration's parser) or in the burst just copied; each fault brings
// in 16 pages around the one touched. The kernel maps back, on a minor
// fault and without reading the disk, what the runner runs again. So an
// idle runner's RSS counts the code it idles in, not the code it ever ran
// (about 1.6 MiB of 6.9: README, "Performance").
//
// Only mappings of the executable that are not writable (text, rodata)
// and hold no page of their own are dropped: madvise MADV_DONTNEED on a
// private mapping discards a written page. A read-only mapping has one
// when a debugger's breakpoint (ptrace) or a uprobe (perf, bpftrace)
// patched the code there, and dropping it would remove the breakpoint.
func dropCode() {
	code := uint64(reflect.ValueOf(dropCode).Pointer())
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return
	}
	defer f.Close()
	type mapping struct {
		lo, hi   uint64
		dev, ino string
		skip     bool // writable, or has anonymous (written) pages
	}
	var maps []mapping
	var exeDev, exeIno string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			// 00400000-0075f000 r-xp 00000000 fd:01 1234  /usr/bin/cluster
			lo, hi, ok := strings.Cut(fields[0], "-")
			m := mapping{dev: fields[3], ino: fields[4], skip: strings.Contains(fields[1], "w")}
			var err1, err2 error
			m.lo, err1 = strconv.ParseUint(lo, 16, 64)
			m.hi, err2 = strconv.ParseUint(hi, 16, 64)
			if !ok || err1 != nil || err2 != nil || m.ino == "0" {
				m.skip = true
			}
			if m.lo <= code && code < m.hi {
				exeDev, exeIno = m.dev, m.ino
			}
			maps = append(maps, m)
			continue
		}
		// Anonymous:   4 kB
		if len(maps) > 0 && len(fields) >= 2 && fields[0] == "Anonymous:" && fields[1] != "0" {
			maps[len(maps)-1].skip = true
		}
	}
	if exeIno == "" || sc.Err() != nil {
		return
	}
	for _, m := range maps {
		if m.dev == exeDev && m.ino == exeIno && !m.skip {
			unix.Syscall(unix.SYS_MADVISE, uintptr(m.lo), uintptr(m.hi-m.lo), unix.MADV_DONTNEED)
		}
	}
}
