//go:build linux && !portable

package runner

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// scanGroup is the reference: one pass over all of /proc, as groupUsages
// did before it read only the groups.
func scanGroup(t *testing.T, pg int) (u usage, n int) {
	t.Helper()
	d, err := os.Open("/proc")
	if err != nil {
		t.Fatal(err)
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	for _, name := range names {
		if _, err := strconv.Atoi(name); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + name + "/stat")
		if err != nil {
			continue
		}
		if st, ok := parseStat(b); ok && st.pgrp == pg {
			u.cpuTicks += st.ticks
			u.rss += st.rss * pageSize
			n++
		}
	}
	return u, n
}

// A worker's group with a child and a grandchild in it, and one child that
// left for a group of its own: every reading (the first and the ones that
// follow, whether they walk the children files or reuse what a full pass
// found) counts the four members and not the one that left.
func TestGroupUsagesReadsTheWholeGroup(t *testing.T) {
	testGroupUsages(t)
}

// The same where the kernel has no children files: a pass over all of /proc
// finds the members, the readings after it read only them.
func TestGroupUsagesWithoutChildrenFiles(t *testing.T) {
	setNoKids := func(v bool) {
		groups.mu.Lock()
		groups.noKids, groups.scanned = v, time.Time{}
		groups.mu.Unlock()
	}
	setNoKids(true)
	defer setNoKids(false)
	testGroupUsages(t)
}

func testGroupUsages(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 300 & sh -c 'sleep 300 & wait' & setsid sleep 300 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pg := cmd.Process.Pid
	t.Cleanup(func() {
		syscall.Kill(-pg, syscall.SIGKILL)
		cmd.Wait()
	})
	// Settled: four members (sh, its sleep, the inner sh and its sleep),
	// the same reading twice in a row.
	var want usage
	for deadline, prev := time.Now().Add(20*time.Second), (usage{}); ; prev = want {
		if time.Now().After(deadline) {
			t.Fatal("the group did not settle at 4 processes")
		}
		time.Sleep(4 * pollInterval)
		var n int
		want, n = scanGroup(t, pg)
		if n == 4 && want == prev {
			break
		}
	}
	for i := 0; i < 3; i++ {
		got, ok := groupUsages(nil, map[int]bool{pg: true})
		if !ok {
			t.Fatal("groupUsages: not ok")
		}
		if got[pg].rss != want.rss {
			t.Errorf("reading %d: rss %d, want %d (the whole group)", i, got[pg].rss, want.rss)
		}
	}
	if got, ok := groupUsages(nil, map[int]bool{}); !ok || len(got) != 0 {
		t.Errorf("no groups: %v, %v", got, ok)
	}
}

// A worker sampled at the watch's longest interval is walked at every
// sample, so a child it forked is counted at the next sample, not a walk
// later.
func TestWalkEveryBelowTheLongestInterval(t *testing.T) {
	if walkEvery > sampleMax-sampleSlack {
		t.Errorf("walkEvery %s > sampleMax %s - sampleSlack %s", walkEvery, sampleMax, sampleSlack)
	}
}
