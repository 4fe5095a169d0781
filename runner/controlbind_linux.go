//go:build linux && !portable

package runner

import (
	"net"
	"os"

	"golang.org/x/sys/unix"

	"github.com/cluster-run/cluster/procfile"
)

// AbstractNamespace: Linux names sockets outside the file system too
// ("@name" in Go), so a control socket needs no writable directory at all.
const AbstractNamespace = true

// bindAbstract listens on the abstract socket name ("@..."): no file, no
// mode (the peer check alone guards it), gone when the socket is closed.
func bindAbstract(name string) (*net.UnixListener, error) {
	return net.ListenUnix("unix", &net.UnixAddr{Name: name, Net: "unix"})
}

// probeAbstract connects to the abstract socket name and hangs up: a
// nonblocking connect either succeeds at once (queued in the backlog) or
// fails at once. Raw calls, not net.Dial: every `cluster run` probes this
// name, and a name nobody holds costs a socket and a refused connect.
func probeAbstract(name string) (p Probe, uid int, err error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return ProbeBlocked, -1, err
	}
	defer unix.Close(fd)
	switch err := unix.Connect(fd, &unix.SockaddrUnix{Name: name}); err {
	case nil:
	case unix.ECONNREFUSED, unix.ENOENT:
		return ProbeAbsent, -1, nil // a name goes with its socket: nothing stale
	default:
		return ProbeBlocked, -1, err // EAGAIN: its backlog is full
	}
	uid, err = peerUID(fd)
	if err != nil {
		uid = -1
	}
	return ProbeLive, uid, nil
}

// bindMax is the longest path bindPrivate binds at: the kernel's limit, as
// the socket is bound in place.
func bindMax(string) int { return procfile.UnixPathMax }

// bindPrivate binds and listens on a unix socket at path that is created
// with mode 0600. Linux gives the socket file the mode of the socket's own
// inode (less the umask), so a fchmod before bind sets it in the same step
// that creates the file: no window with wider permissions, no process-wide
// umask change, and bind fails with EADDRINUSE when something is already at
// path (another runner that won a race), where a rename would replace it.
func bindPrivate(path string) (*net.UnixListener, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close() // FileListener holds a duplicate
	if err := unix.Fchmod(fd, 0o600); err != nil {
		return nil, os.NewSyscallError("fchmod", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		return nil, os.NewSyscallError("bind", err)
	}
	if err := unix.Listen(fd, unix.SOMAXCONN); err != nil {
		os.Remove(path)
		return nil, os.NewSyscallError("listen", err)
	}
	ln, err := net.FileListener(f)
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(false) // ControlServer.Close removes it
	return ul, nil
}
