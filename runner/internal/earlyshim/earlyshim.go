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

import "syscall"

// Command is the hidden argv[1] of the exec shim (runner.ShimCommand).
const Command = "__exec"

// Sh runs what exec refuses with ENOEXEC and may be a shell script.
const Sh = "/bin/sh"

// ShArgv is how POSIX execvp and sh run path, an executable that exec
// refused with ENOEXEC (a script without "#!"): Sh reads it, with argv's
// arguments after it, in the same process.
func ShArgv(path string, argv []string) []string {
	out := make([]string, 0, len(argv)+1)
	out = append(out, Sh, path)
	if len(argv) > 1 {
		out = append(out, argv[1:]...)
	}
	return out
}

// Script reports whether path, which exec refused with ENOEXEC, may be a
// shell script: no NUL byte in its first line (within its first 256 bytes),
// as bash decides before it runs such a file. A binary for another machine
// (an ELF or Mach-O header has NULs) is not one: sh would read it as text.
func Script(path string) bool {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer syscall.Close(fd)
	var b [256]byte
	n, err := syscall.Read(fd, b[:])
	if err != nil || n < 0 {
		return false
	}
	for _, c := range b[:n] {
		switch c {
		case 0:
			return false
		case '\n':
			return true
		}
	}
	return true
}
