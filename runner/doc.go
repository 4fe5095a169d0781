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
// # Start order (depends_on)
//
// The supervisor also owns each type's waiting state: a type whose
// dependencies have not reached their condition (started, ready,
// completed) has no slot yet, and after every event it handles the
// supervisor starts the types that may now start (depends.go). A
// dependency that fails for good keeps its dependents from starting and
// fails the cluster. A graceful stop asks a type's workers to stop only once
// no worker of a type that depends on it is left, so dependents stop first.
//
// # Platforms: a portable core, Linux's extras layered on it
//
// The POSIX path is the core and runs everywhere: fork/exec from one
// thread with setsid and a controlling pty, wait4 per known child, signals
// to process groups, peer credentials on the control socket. Each platform
// spells a few of those its own way in sys_linux.go, sys_darwin.go,
// sys_freebsd.go and sys_bsd.go (the pty's ioctls, termios requests,
// SO_PEERCRED or LOCAL_PEERCRED, pipe2 or ForkLock). Linux adds what the
// others lack, each in a pair of files: X_linux.go is the extra, X_unix.go
// what every other platform (and Linux built with -tags portable, which CI
// runs) does instead:
//
//	subreaper_linux.go  PR_SET_CHILD_SUBREAPER, waitid(P_ALL) for orphans, Pdeathsig
//	subreaper_unix.go   none: orphans go to init (launchd), no parent-death signal
//	usage_linux.go      CPU and RSS of each worker's group from /proc
//	usage_unix.go       the same from one ps(1) run per status request
//	fds_linux.go        close_range(CLOSE_RANGE_CLOEXEC)
//	fds_unix.go         a walk over /dev/fd
//
// # Waiting for children: one place
//
// All forks and all waits go through the reaper (reaper_unix.go). Each
// child is waited for by pid with wait4, so no wait races another. On
// Linux, in the binary (Options.ReapAll), one goroutine blocks in
// waitid(P_ALL, WNOWAIT) instead, then reaps exactly the pid it saw under
// the mutex every fork registers its child under. A zombie not registered
// yet while forks that began before it are in flight waits for them, so a
// child that exits before it is registered is still matched; a pid cannot be
// reused between seeing and reaping it; and pids that are not workers
// (orphans re-parented to us) are reaped and dropped. os/exec is not used for workers, so no exec.Cmd.Wait
// races the loop. As PID 1 every orphan comes to us; otherwise main calls
// BecomeSubreaper (PR_SET_CHILD_SUBREAPER) so double-forked descendants
// still do. At shutdown Run signals what is left with TERM, waits, then
// KILLs and reaps it: when PID 1 exits, the kernel SIGKILLs the rest with no
// grace. Elsewhere a double-forked daemon is re-parented to init (launchd on
// macOS): the runner cannot see it, and stopping the worker's process group
// is all it does.
//
// # When the runner itself is SIGKILLed: no survivors
//
// Each worker gets its own session (setsid) with a pseudo-terminal as
// controlling terminal, whose master only the runner holds; stdin stays
// /dev/null and stdout/stderr stay pipes, so the app sees no TTY. When the
// runner dies, the kernel closes the master and hangs up the terminal: the
// session leader gets SIGHUP, and when the controlling process exits the
// kernel SIGHUPs the session's foreground process group — every process the
// worker started that did not leave its group. This is hivemind's mechanism
// without hivemind's cost (its apps see a TTY), and it is the same on every
// platform. On Linux, Pdeathsig adds a SIGKILL to the worker when its parent
// *thread* dies, so every fork is made from one of two goroutines each locked
// to its OS thread for the life of the process (two, so that a burst of
// starts overlaps its forks); that covers a worker that ignores
// SIGHUP (or treats it as "reload"), which elsewhere survives its runner.
// A per-worker guardian process would double the process count; cgroups
// need delegation that containers and CI rarely grant. A descendant that
// ignores SIGHUP and leaves its group, or starts its own session, escapes;
// that is the documented limit.
//
// On Linux a worker that needs no LISTEN_PID is forked straight into its
// program: Go's fork code takes the pty as controlling terminal (Setctty),
// which it can only do on a descriptor the program keeps, so the worker
// holds its terminal at fd 255, as bash does (ttyAt). That is no new
// capability (it can open /dev/tty anyway) and it saves a Go start-up per
// worker (about 8 ms of CPU on a small VM). Every other descriptor is
// close-on-exec: New marks what the runner inherited once, and everything
// it opens itself has the flag from the start.
//
// An inherit-mode worker (LISTEN_PID) and every worker on the portable
// path go through a tiny exec shim instead: the worker is forked as
// `cluster __exec`, which takes the pty (TIOCSCTTY) and closes it, sets
// LISTEN_PID to its own pid (os/exec cannot set an env var between fork and
// exec), checks that the runner still lives where there is no Pdeathsig,
// marks every descriptor above the worker's own close-on-exec again where
// that is cheap (close_range, /dev/fd) and execs the program, keeping the pid. On Linux it runs from the initialiser of
// runner/internal/earlyshim, before the binary's heavier packages (net/http,
// TLS, TOML) are initialised; Shim is its fallback and the portable path.
//
// With tty = true the same pty is the worker's stdin, stdout and stderr (a
// normal terminal, not the never-waiting one above): it is fd 0, so Go's
// fork code makes it the controlling terminal and no shim is needed unless
// LISTEN_PID is. Its output is copied from the master into the log; the
// copy also offers each chunk to attached clients (attach.go), each with a
// bounded queue that drops rather than waits.
//
// # Waiting for a reload
//
// `cluster reload --wait` gets a Wait (reloadwait.go): the supervisor
// attaches it, while it handles the request, to the rolling plan of each
// type it queued and to each new worker it started, and counts them down as
// they finish; the first abort (a replacement that exits or fails its
// readiness, a type stopped or removed, the cluster stopping) ends it with
// the reason. Requests still coalesce: a Wait joins the plan that does its
// work. The control socket answers a waiting client with heartbeat lines
// until the Wait ends. A named type that is stopped fails the Wait at once.
// One more Wait, the reload cycle, joins every reload queued while any runs,
// and counts an abort as done: when it ends the runner sends the event
// "reload_finished" (sd_notify's READY=1 after RELOADING=1).
//
// The control socket (controlsock.go) answers for one runner, at a socket
// file or, on Linux, an abstract name (controlbind_linux.go), and may answer
// at an abstract name besides its file (controlalso.go), so that clients
// that do not know the file's directory find it. A runner with no place for
// one (NoControl) runs without it. While a
// Procfile's release runs first on a runner of its own, it answers for that
// one (controlrelease.go): status, logs and stop; the rest is refused.
// Shutdown lets the answers in flight finish (bounded) before the process
// exits, so the `cluster stop` that ended a run gets its answer.
//
// # Invariants
//
//   - A worker runs in its own session and process group (pgid == pid).
//   - A slot keeps the *procfile.Process it was made with (slot.p): Apply
//     (a re-read file) changes a type's settings for new slots only, and
//     rolls the type so that every worker ends up on them.
//   - Stop: stop_signal to the group (kill_mode group) or the leader (mixed),
//     SIGKILL to the group after stop_timeout; the whole stop is bounded by
//     shutdown_timeout. Only a process still running when it passes makes
//     Run return ErrKilled: a worker that exited while its last lines wait
//     for an output nobody reads stopped in time.
//   - Restart backoff: 100ms doubling to 30s with ±20% jitter, reset after
//     30s of running once ready and by a clean exit after a run of 1s or
//     more (quickExit), after which restart = "always" waits a fixed 100ms;
//     a clean exit sooner is backed off as a crash is, but is no crash.
//     More than max_restarts crashes within restart_window fail the type,
//     and so do more than max_restarts crashes of one slot in a row (its
//     backoff spreads them past any window), a clean exit or a healthy run
//     ending the row.
//   - Output pipes are read through the runtime poller (non-blocking fds), and
//     an exit event is printed after the worker's last line (bounded wait).
//   - No event holds up supervision: Output.Event is called one event at a
//     time off the supervisor (events.go), and its caller waits for it only
//     while the output is read (at most 100ms), so a stop reaches the
//     workers and Run ends within its bound even when nobody reads it.
//   - Every worker line is also kept in its type's log ring (logring.go) for
//     `cluster logs`: at most 1,000 lines and 1 MiB of text per type, and no
//     allocation per line once grown. Readers (LogFeed) never hold back a
//     writer: they read by sequence number and are told what they missed.
//     A logs client is never cut off for reading slowly while the runner
//     runs; its answer ends with an End line, so a cut is told from the end.
package runner
