//go:build unix

package runner

import "golang.org/x/sys/unix"

// portAccepts asks whether something listens on 127.0.0.1:port with a
// non-blocking connect and a poll of at most 50 ms, which loopback answers
// in microseconds: refused means no, connected means yes. It needs no
// poller registration, goroutine or timer, so probing the PORT of hundreds
// of starting workers that never listen stays cheap (net.Dial costs several
// times as much per probe). known is false when there is no answer in that
// time (a full backlog, a filter) or the socket failed: the caller then
// dials, with its own timeout and without holding a thread.
func portAccepts(port int) (up, known bool) {
	fd, err := socketCloexec(unix.AF_INET, unix.SOCK_STREAM)
	if err != nil {
		return false, false
	}
	defer unix.Close(fd)
	if unix.SetNonblock(fd, true) != nil {
		return false, false
	}
	switch err := unix.Connect(fd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err {
	case nil:
		return true, true
	case unix.ECONNREFUSED:
		return false, true
	case unix.EINPROGRESS:
	default:
		return false, false
	}
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	for {
		n, err := unix.Poll(pfd, 50)
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
		return true, true
	case unix.Errno(soErr) == unix.ECONNREFUSED:
		return false, true
	}
	return false, false
}
