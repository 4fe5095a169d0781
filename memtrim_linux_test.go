package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

var (
	dropCodeData = 1 // .data: madvise on it would bring back the 1
	dropCodeBSS  int // .bss
)

// codeRSSKiB sums the resident pages of the executable's read-only
// mappings (its code and constants), from /proc/self/smaps.
func codeRSSKiB(t *testing.T) int {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	total, in := 0, false
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) >= 5 && strings.Contains(fields[0], "-") { // a mapping's header
			in = len(fields) >= 6 && fields[5] == exe && !strings.Contains(fields[1], "w")
			continue
		}
		if in && len(fields) == 3 && fields[0] == "Rss:" {
			n, err := strconv.Atoi(fields[1])
			if err != nil {
				t.Fatal(err)
			}
			total += n
		}
	}
	return total
}

// dropCode gives back the executable's code pages and leaves its written
// data alone. It runs in a fresh copy of the test binary, so that what is
// resident before the drop does not depend on the tests that ran before.
func TestDropCodeReturnsCodePagesOnly(t *testing.T) {
	if os.Getenv("CLUSTER_TEST_DROPCODE") == "1" {
		dropCodeData, dropCodeBSS = 42, 43
		codeRSSKiB(t) // its own code resident
		before := codeRSSKiB(t)
		dropCode()
		after := codeRSSKiB(t)
		if dropCodeData != 42 || dropCodeBSS != 43 {
			t.Fatalf("written data lost: %d, %d", dropCodeData, dropCodeBSS)
		}
		fmt.Printf("code %d %d\n", before, after)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDropCodeReturnsCodePagesOnly$", "-test.count=1")
	cmd.Env = append(os.Environ(), "CLUSTER_TEST_DROPCODE=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var before, after int
	for _, line := range strings.Split(string(out), "\n") {
		if _, err := fmt.Sscanf(line, "code %d %d", &before, &after); err == nil {
			break
		}
	}
	// A fresh test binary has run its package init and the testing
	// package: megabytes of code. Reading smaps after the drop faults back
	// in what that reading runs, far less.
	if before < 2048 || after > before/2 {
		t.Fatalf("resident code pages %d KiB before the drop, %d KiB after\n%s", before, after, out)
	}
	t.Logf("resident code pages: %d KiB before the drop, %d KiB after", before, after)
}

// dropCodeCanary sits in the executable's read-only data.
const dropCodeCanary = "dropCode canary: a breakpoint patches this"

// A page of the executable that was written (a debugger's breakpoint, a
// uprobe) is not dropped: dropping it would remove the patch.
func TestDropCodeKeepsPatchedPages(t *testing.T) {
	if os.Getenv("CLUSTER_TEST_DROPCODE") == "patched" {
		p := unsafe.Pointer(unsafe.StringData(dropCodeCanary))
		page := unsafe.Add(p, -int(uintptr(p)&uintptr(os.Getpagesize()-1)))
		mem := unsafe.Slice((*byte)(page), os.Getpagesize())
		if err := unix.Mprotect(mem, unix.PROT_READ|unix.PROT_WRITE); err != nil {
			t.Fatal(err)
		}
		*(*byte)(p) = 'D' // as a debugger's write through ptrace would
		if err := unix.Mprotect(mem, unix.PROT_READ); err != nil {
			t.Fatal(err)
		}
		dropCode()
		fmt.Printf("canary %q\n", dropCodeCanary[:8])
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDropCodeKeepsPatchedPages$", "-test.count=1")
	cmd.Env = append(os.Environ(), "CLUSTER_TEST_DROPCODE=patched")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.Contains(string(out), `canary "DropCode"`) {
		t.Fatalf("the patched page was dropped (want canary \"DropCode\"):\n%s", out)
	}
}
