// Package procfile turns a Clusterfile (TOML), a Procfile and their dotenv
// files into one validated Config. It starts no process; Load (and LoadWith)
// is its only I/O.
//
// # Model
//
// Load reads the file (a regular file of at most MaxFileSize, refused before
// it is opened otherwise: a FIFO or a device never blocks it), decodes it,
// then checks every key and collects every problem, each as
// "FILE:LINE: KEY: what is wrong", sorted by line (a TOML syntax error stops
// at the first). A Config is returned only when the whole file is valid.
//
// # Invariants of a Config
//
//   - Every default of SPEC.md is applied: no zero value means "unset"
//     (Process.WatchPoll 0 is "inotify", MaxMemory 0 is "no limit").
//   - Durations are >= 0; ready.timeout, restart_window and watch_poll (when
//     set) are > 0; a ready delay is shorter than ready.timeout.
//   - 0 <= Workers <= MaxWorkers per type, and at most MaxTotalWorkers in all.
//   - Every environment name is non-empty without '=' or NUL; no value has a
//     NUL; no KEY=value, and no argument of a command as Load splits it, is
//     over ArgStrMax; a command and its environment take at most ArgMax
//     (ArgSize). The runner checks ArgSize again on the argv and env it execs.
//   - Watch globs are in the syntax of the watch package and can match.
//   - depends_on names other types of the same file, once each, with no
//     cycle; "completed" is never on a type with restart = "always".
//     Config.StartOrder lists the types dependencies first, else in file order.
//   - Expansion ($VAR, ${VAR:-default}, nested defaults) never executes
//     anything, and a form it does not support is an error, never a
//     surprising value (expand.go).
package procfile
