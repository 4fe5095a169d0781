// Package runner starts, supervises, restarts and stops the workers of a
// procfile.Config. It imports only procfile; output goes through the Output
// interface (logmux in the binary).
//
// # Model
//
// A Runner has one supervisor goroutine (Run) that owns the process types:
// their wanted counts, crash history and failed state. Each worker index of a
// type is a slot with its own goroutine that owns that worker's process and
// lifecycle (spawn, readiness, stop, restart with backoff); it asks the
// supervisor for a decision when its process exits. Nothing else touches a
// process. Cancelling Run's context is the graceful stop; Kill is the
// immediate one. Run returns only after every child is reaped and its output
// copied.
//
// # Waiting for children: one place
//
// All forks and all waits go through the reaper (reaper_linux.go). In the
// binary (Options.ReapAll) one goroutine blocks in waitid(P_ALL, WNOWAIT),
// then reaps exactly the pid it saw under the same mutex that every fork
// holds: a child that exits before it is registered is still matched, a pid
// cannot be reused between seeing and reaping it, and pids that are not
// workers (orphans re-parented to us) are reaped and dropped. os/exec is not
// used for workers, so no exec.Cmd.Wait races the loop. As PID 1 every
// orphan comes to us; otherwise main calls BecomeSubreaper
// (PR_SET_CHILD_SUBREAPER) so double-forked descendants still do. At shutdown
// Run signals what is left with TERM, waits, then KILLs and reaps it: when
// PID 1 exits, the kernel SIGKILLs the rest with no grace.
//
// # When the runner itself is SIGKILLed: no survivors
//
// Pdeathsig kills a worker when its parent *thread* dies, so every fork is
// made from one goroutine locked to its OS thread for the life of the process.
// That covers the worker, not its children. For those, each worker gets its
// own session (setsid) with a pseudo-terminal as controlling terminal, whose
// master only the runner holds; stdin stays /dev/null and stdout/stderr stay
// pipes, so the app sees no TTY. When the runner dies, the kernel closes the
// master and hangs up the terminal: the session leader gets SIGHUP (and
// Pdeathsig SIGKILL), and when the controlling process exits the kernel
// SIGHUPs the session's foreground process group — every process the worker
// started that did not leave its group. This is hivemind's mechanism without
// hivemind's cost (its apps see a TTY). A per-worker guardian process would
// double the process count; cgroups need delegation that containers and CI
// rarely grant. A descendant that ignores SIGHUP and leaves its group, or
// starts its own session, escapes; that is the documented limit.
//
// The controlling terminal is set by a tiny exec shim: the worker is forked
// as `cluster __exec`, which takes the pty (TIOCSCTTY), sets LISTEN_PID to its
// own pid (os/exec cannot set an env var between fork and exec) and execs the
// program, keeping the pid.
//
// # Invariants
//
//   - A worker runs in its own session and process group (pgid == pid).
//   - Stop: stop_signal to the group (kill_mode group) or the leader (mixed),
//     SIGKILL to the group after stop_timeout; the whole stop is bounded by
//     shutdown_timeout.
//   - Restart backoff: 100ms doubling to 30s with ±20% jitter, reset after
//     30s of healthy running; more than max_restarts crashes within
//     restart_window fail the type.
//   - Output pipes are read through the runtime poller (non-blocking fds), and
//     an exit event is printed after the worker's last line (bounded wait).
package runner
