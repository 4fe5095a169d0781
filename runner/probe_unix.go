//go:build unix

package runner

import (
	"time"

	"golang.org/x/sys/unix"
)

// portAccepts asks whether something listens on 127.0.0.1:port, or on
// [::1]:port when 127.0.0.1 refuses (an app that listens on "localhost" may
// get ::1 alone, as Node 17+ does), with a non-blocking connect and a poll
// of at most 50 ms, which loopback answers in microseconds: refused means
// no, connected means yes. It needs no
// poller registration, goroutine or timer, so probing the PORT of hundreds
// of starting workers that never listen stays cheap (net.Dial costs several
// times as much per probe). known is false when there is no answer in that
// time (a full backlog, a filter) or the socket failed: the caller then
// dials, with its own timeout and without holding a thread.
func portAccepts(port int) (up, known bool) {
	up, known = portAcceptsOn(port, false)
	if known && !up {
		if up6, known6 := portAcceptsOn(port, true); known6 {
			return up6, true
		} // no IPv6, say: 127.0.0.1's refusal is the answer
	}
	return up, known
}

// portAcceptsOn is portAccepts on 127.0.0.1 alone, or on [::1] alone.
func portAcceptsOn(port int, v6 bool) (up, known bool) {
	family := unix.AF_INET
	var sa unix.Sockaddr = &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}
	if v6 {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: port, Addr: [16]byte{15: 1}}
	}
	fd, err := socketCloexec(family, unix.SOCK_STREAM)
	if err != nil {
		return false, false
	}
	defer unix.Close(fd)
	if unix.SetNonblock(fd, true) != nil {
		return false, false
	}
	switch err := unix.Connect(fd, sa); err {
	case nil:
		return connectedTo(fd, port)
	case unix.ECONNREFUSED:
		return false, true
	case unix.EINPROGRESS:
	default:
		return false, false
	}
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	deadline := time.Now().Add(50 * time.Millisecond)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return false, false
		}
		n, err := unix.Poll(pfd, int(left/time.Millisecond)+1)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return false, false
		}
		break
	}
	switch soErr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); {
	case err != nil:
		return false, false
	case soErr == 0:
		return connectedTo(fd, port)
	case unix.Errno(soErr) == unix.ECONNREFUSED:
		return false, true
	}
	return false, false
}

// connectedTo checks a connect that succeeded. With nothing listening on a
// port in the ephemeral range, the kernel can pick that same port as the
// socket's own, and the socket connects to itself (a TCP simultaneous
// open): that is "nothing listens", as net.Dial also treats it. A port some
// socket listens on is never handed out as a source port.
func connectedTo(fd, port int) (up, known bool) {
	if _, err := unix.Getpeername(fd); err != nil {
		return false, false // not connected after all
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return false, false
	}
	switch in := sa.(type) {
	case *unix.SockaddrInet4:
		return in.Port != port, true
	case *unix.SockaddrInet6:
		return in.Port != port, true
	}
	return true, true
}
