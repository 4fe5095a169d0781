//go:build unix && (!linux || portable)

package runner

// No subreaper, no parent-death signal (macOS; FreeBSD as built here; Linux
// with -tags portable). A descendant whose parent exits is re-parented to
// init (launchd on macOS), never to the runner, so the runner's only
// children are the ones it forked, each waited for by pid (own mode), and
// there are no leftovers to find at shutdown: what the workers' process
// groups do not reach escapes. When the runner is SIGKILLed, the workers and
// their groups are stopped by their terminal's hang-up alone (doc.go).

import "syscall"

// Portable reports whether this build runs the portable path only: true
// on every platform but Linux, and on Linux built with -tags portable.
const Portable = true

// reapAllAvailable: no orphan comes to us, so "all" mode does not exist.
const reapAllAvailable = false

// BecomeSubreaper does nothing here and returns nil: there is no child
// subreaper on this platform (or build), and orphaned grandchildren are
// re-parented to init. The README's platform table says so.
func BecomeSubreaper() error { return nil }

// parentDeathSignal: no Pdeathsig here.
func parentDeathSignal(*syscall.SysProcAttr) {}

// waitLoop is never started: reaper.all is never set here.
func (rp *reaper) waitLoop() {}

// children is empty: every child of the runner is a process it forked and
// waits for by pid, and no orphan is re-parented to it.
func children() []int { return nil }

// descendantsOf has no /proc to read: none found.
func descendantsOf(int) []int { return nil }

// procName is asked only about what children lists: nothing here.
func procName(int) (name string, zombie bool) { return "", true }

// processTypeOf is asked only about what children lists: nothing here.
func processTypeOf(int) string { return "" }

// processWorkerOf is asked only about what children lists: nothing here.
func processWorkerOf(int) (typ, worker string) { return "", "" }
