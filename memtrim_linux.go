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
// (about 2 MiB of 6.8: README, "Performance"). Only pages mapped from the
// executable and never written (text, rodata) are dropped: madvise
// MADV_DONTNEED on a private mapping would reset a written page.
func dropCode() {
	code := uint64(reflect.ValueOf(dropCode).Pointer())
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	type mapping struct {
		lo, hi   uint64
		dev, ino string
		writable bool
	}
	var maps []mapping
	var exeDev, exeIno string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 00400000-0075f000 r-xp 00000000 fd:01 1234  /usr/bin/cluster
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 || fields[4] == "0" {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		m := mapping{dev: fields[3], ino: fields[4], writable: strings.ContainsAny(fields[1], "w")}
		var err1, err2 error
		m.lo, err1 = strconv.ParseUint(lo, 16, 64)
		m.hi, err2 = strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		if m.lo <= code && code < m.hi {
			exeDev, exeIno = m.dev, m.ino
		}
		maps = append(maps, m)
	}
	if exeIno == "" {
		return
	}
	for _, m := range maps {
		if m.dev == exeDev && m.ino == exeIno && !m.writable {
			unix.Syscall(unix.SYS_MADVISE, uintptr(m.lo), uintptr(m.hi-m.lo), unix.MADV_DONTNEED)
		}
	}
}
