//go:build linux && !portable

package runner

// Linux's extras on the portable reaper (reaper_unix.go): a child subreaper
// and waitid(P_ALL), so orphaned descendants come to the runner and are
// reaped and stopped with the rest; Pdeathsig, so a SIGKILLed runner takes
// its workers with it; and /proc, to list the leftovers at shutdown.
// subreaper_unix.go is what the other platforms (and -tags portable) have
// instead.

import (
	"errors"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Portable reports whether this build runs the portable path only: false
// here, where Linux's extras (subreaper, Pdeathsig, /proc, close_range) are
// built in. Tests of guarantees only the extras give skip when it is true.
const Portable = false

// reapAllAvailable: orphans can be re-parented to us, so "all" mode exists.
const reapAllAvailable = true

// parentDeathSignal makes the child SIGKILLed when the forking thread (the
// reaper's, which lives as long as the runner) dies.
func parentDeathSignal(sys *syscall.SysProcAttr) {
	sys.Pdeathsig = syscall.SIGKILL
}

// waitLoop is "all" mode (see reaper): it waits for any child without
// reaping it, then reaps exactly that pid under mu.
func (rp *reaper) waitLoop() {
	// With no child at all, an orphan can still come to us: as PID 1, a
	// process that `docker exec` (setns) started is re-parented to us when
	// its parent exits, and no fork of ours announces it. SIGCHLD does.
	// Notify is set before the first waitid, so one that arrives between an
	// ECHILD and the receive below waits in the channel.
	sigchld := make(chan os.Signal, 1)
	signal.Notify(sigchld, syscall.SIGCHLD)
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err == syscall.EINTR {
			continue
		}
		if errors.Is(err, syscall.ECHILD) {
			select { // no children at all: sleep until a fork or an orphan
			case <-rp.kick:
			case <-sigchld:
			}
			continue
		}
		if err != nil {
			continue
		}
		pid := siginfoPid(&info)
		rp.mu.Lock()
		// The zombie may be the child of a fork still in flight.
		rp.awaitForks(pid)
		var ws syscall.WaitStatus
		got, werr := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		if werr == nil && got == pid {
			if ch, ok := rp.waiting[pid]; ok {
				delete(rp.waiting, pid)
				ch <- fromWaitStatus(ws)
			}
		}
		rp.mu.Unlock()
	}
}

// siginfoPid reads si_pid of a SIGCHLD siginfo_t (after signo, errno, code and
// padding on every 64-bit Linux ABI; after the three ints on 32-bit ones).
func siginfoPid(info *unix.Siginfo) int {
	b := (*[128]byte)(unsafe.Pointer(info))
	off := 12
	if unsafe.Sizeof(uintptr(0)) == 8 {
		off = 16
	}
	return int(*(*int32)(unsafe.Pointer(&b[off])))
}

// BecomeSubreaper makes orphaned descendants re-parent to this process instead
// of init, so they are reaped and stopped with the rest. As PID 1 that is
// already the case.
func BecomeSubreaper() error {
	if os.Getpid() == 1 {
		return nil
	}
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// children lists the pids whose parent is this process (orphans re-parented
// to us included). When we have none, which is how a clean shutdown ends,
// one waitid says so. Otherwise /proc/self/task/*/children costs one read
// per thread of ours; without CONFIG_PROC_CHILDREN it falls back to scanning
// every /proc/PID.
func children() []int {
	if !haveChildren() {
		return nil
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err == nil {
		var out []int
		ok := true
		for _, t := range tasks {
			b, err := os.ReadFile("/proc/self/task/" + t.Name() + "/children")
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					if _, serr := os.Stat("/proc/self/task/" + t.Name()); serr == nil {
						ok = false // the kernel lacks the file: scan instead
						break
					}
				}
				continue // the thread exited meanwhile
			}
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					out = append(out, pid)
				}
			}
		}
		if ok {
			return out
		}
	}
	return scanChildren()
}

// haveChildren asks the kernel whether we have any child, running or exited,
// without reaping one: waitid(P_ALL, WNOHANG|WNOWAIT) fails with ECHILD only
// when there is none.
func haveChildren() bool {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		if err == syscall.EINTR {
			continue
		}
		return !errors.Is(err, syscall.ECHILD)
	}
}

func scanChildren() []int {
	self := os.Getpid()
	var out []int
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil || pid <= 0 {
			continue
		}
		if ppidOf(pid) == self {
			out = append(out, pid)
		}
	}
	return out
}

// descendantsOf lists pid's descendants (children first), from one scan of
// every /proc/PID's parent.
func descendantsOf(pid int) []int {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	kids := map[int][]int{}
	for _, n := range names {
		p, err := strconv.Atoi(n)
		if err != nil || p <= 0 {
			continue
		}
		if pp := ppidOf(p); pp > 0 {
			kids[pp] = append(kids[pp], p)
		}
	}
	var out []int
	for next := kids[pid]; len(next) > 0; {
		p := next[0]
		next = append(next[1:], kids[p]...)
		out = append(out, p)
	}
	return out
}

// procName returns the command name of pid and whether it is a zombie.
func procName(pid int) (name string, zombie bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", true
	}
	open, close := strings.IndexByte(string(b), '('), strings.LastIndexByte(string(b), ')')
	if open < 0 || close < open {
		return "", false
	}
	return string(b[open+1 : close]), strings.HasPrefix(string(b[close+1:]), " Z")
}

// ppidOf returns field 4 of /proc/PID/stat, or -1.
func ppidOf(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	// comm may hold spaces and parens: parse after the last ')'.
	i := len(b) - 1
	for i >= 0 && b[i] != ')' {
		i--
	}
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return -1
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return -1
	}
	return ppid
}

// processTypeOf reads CLUSTER_PROCESS from pid's environment as it was
// exec'd (every worker's descendants have it unless they cleared it), or "".
func processTypeOf(pid int) string {
	typ, _ := processWorkerOf(pid)
	return typ
}

// processWorkerOf reads CLUSTER_PROCESS and CLUSTER_WORKER from pid's
// environment as it was exec'd: the type and worker it descends from
// ("", "" when it cannot tell).
func processWorkerOf(pid int) (typ, worker string) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return "", ""
	}
	for _, kv := range strings.Split(string(b), "\x00") {
		if v, ok := strings.CutPrefix(kv, "CLUSTER_PROCESS="); ok {
			typ = v
		} else if v, ok := strings.CutPrefix(kv, "CLUSTER_WORKER="); ok {
			worker = v
		}
	}
	return typ, worker
}
