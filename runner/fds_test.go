package runner

import (
	"sync/atomic"
	"testing"
	"time"
)

// What the runner inherited is marked close-on-exec once, at New, not
// before every fork: without close_range or fdescfs (FreeBSD before 13.1)
// each marking is a fcntl per number up to the descriptor limit, and it ran
// for every worker started and every ps a status, a scrape or max_memory
// runs. TestWorkerGetsNoStrayDescriptors checks that workers still get
// nothing stray.
func TestInheritedDescriptorsMarkedOnce(t *testing.T) {
	var calls atomic.Int32
	mark := markInherited
	markInherited = func(from int) { calls.Add(1); mark(from) }
	defer func() { markInherited = mark }()

	p := shProc("web", `exec sleep 1000`)
	p.Workers = 3
	rn := start(t, Options{Config: config(p)})
	rn.waitStatus(t, func(s Status) bool { return readyCount(s, "web") == 3 }, "3 workers up")
	if _, err := rn.r.Status(); err != nil { // one ps run, where there is no /proc
		t.Fatal(err)
	}
	rn.cancel()
	if err := rn.wait(t, 10*time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("descriptors marked %d times for one New, 3 workers and a status; want once", n)
	}
}
