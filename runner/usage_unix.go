//go:build unix && (!linux || portable)

package runner

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// psTimeout bounds one ps run: status answers even when ps hangs.
const psTimeout = 2 * time.Second

// groupUsages sums CPU time and RSS per process group over the processes
// whose group is one of pgids (a worker and every child it did not move
// elsewhere), as usage_linux.go does, but with no /proc: one ps(1) run per
// call lists every process with options procps, macOS and FreeBSD agree on
// (rss is in KiB on all three). ok is false when ps cannot be run or read:
// status then shows "-" for CPU and memory, and max_memory cannot act.
func groupUsages(rp *reaper, pgids map[int]bool) (_ map[int]usage, ok bool) {
	out := make(map[int]usage, len(pgids))
	if len(pgids) == 0 {
		return out, true
	}
	b, err := rp.output(psPath(), "-A", "-o", "pgid=", "-o", "rss=", "-o", "time=")
	if err != nil {
		return out, false
	}
	parsed := 0
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		pg, err1 := strconv.Atoi(f[0])
		kib, err2 := strconv.ParseInt(f[1], 10, 64)
		ticks, ok := parseCPUTime(f[2])
		if err1 != nil || err2 != nil || !ok {
			continue
		}
		parsed++ // ps itself is always listed
		if !pgids[pg] {
			continue
		}
		u := out[pg]
		u.cpuTicks += ticks
		u.rss += kib << 10
		out[pg] = u
	}
	return out, parsed > 0
}

// psPath prefers the system's ps to whatever PATH holds.
func psPath() string {
	if _, err := os.Stat("/bin/ps"); err == nil {
		return "/bin/ps"
	}
	if p, err := exec.LookPath("ps"); err == nil {
		return p
	}
	return "/bin/ps"
}

// parseCPUTime reads ps's time column, [DD-][HH:]MM:SS[.hh] (procps prints
// whole seconds, macOS and FreeBSD hundredths), in clockTicks.
func parseCPUTime(s string) (uint64, bool) {
	days := 0
	if d, rest, found := strings.Cut(s, "-"); found {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return 0, false
		}
		days, s = n, rest
	}
	secs := 0.0
	for _, part := range strings.Split(s, ":") {
		v, err := strconv.ParseFloat(part, 64)
		if err != nil || v < 0 {
			return 0, false
		}
		secs = secs*60 + v
	}
	secs += float64(days) * 86400
	return uint64(secs*clockTicks + 0.5), true
}

// output runs argv through the reaper (all forks and waits go through it)
// with the C locale and returns what it wrote to stdout; it is killed when
// it takes longer than psTimeout.
func (rp *reaper) output(argv ...string) ([]byte, error) {
	var p [2]int
	if err := pipeCloexec(p[:]); err != nil {
		return nil, err
	}
	devnull, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(p[0])
		unix.Close(p[1])
		return nil, err
	}
	attr := &syscall.ProcAttr{Env: []string{"LC_ALL=C"}, Files: []uintptr{uintptr(devnull), uintptr(p[1]), uintptr(devnull)}}
	pid, done, err := rp.start(argv[0], argv, attr)
	unix.Close(p[1])
	unix.Close(devnull)
	if err != nil {
		unix.Close(p[0])
		return nil, err
	}
	unix.SetNonblock(p[0], true) // in the runtime poller, so the deadline works
	f := os.NewFile(uintptr(p[0]), argv[0])
	f.SetReadDeadline(time.Now().Add(psTimeout))
	b, rerr := io.ReadAll(f)
	f.Close()
	if rerr != nil {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	st := <-done
	if rerr != nil {
		return nil, rerr
	}
	if !st.success() {
		return nil, fmt.Errorf("%s: %s", argv[0], st)
	}
	return b, nil
}
