// Package earlyshim runs the runner's exec shim (runner.Shim) from a
// package initialiser, before the packages of the binary that a worker never
// uses (net/http, TLS, TOML, logmux) are initialised: a worker's start then
// pays for the Go runtime and a few small packages instead of the whole
// binary's init. The runner imports it on Linux (not with -tags portable).
//
// Go initialises packages in import-path order among those whose imports
// are done; this one imports only os, strconv, syscall and x/sys/unix, so
// it comes early. Anything it cannot do as runner.Shim would (close_range
// missing, a bad argument, a failed exec) it leaves untouched and returns:
// main then runs runner.Shim, which does all of it the long way. On other
// platforms (and with -tags portable) it only names the command.
package earlyshim

// Command is the hidden argv[1] of the exec shim (runner.ShimCommand).
const Command = "__exec"
