//go:build unix

package runner

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/cluster-run/cluster/procfile"
)

// listenBacklog is the accept queue of every shared socket: connections that
// arrive while workers restart or reload wait here instead of being refused.
const listenBacklog = 4096

// Listener is one shared socket the runner owns for its whole life.
//
// It is created with raw syscalls and kept as a plain fd in blocking mode:
// nothing in the runner ever calls (*os.File).Fd on it, which would flip the
// shared open file description back to blocking under workers that made it
// non-blocking and hang Go workers in accept (golang/go#29277).
type Listener struct {
	Addr procfile.Address
	Name string     // LISTEN_FDNAMES entry: the process type, or "type:port" when it has several
	mu   sync.Mutex // fd changes when Renew re-creates the socket
	fd   int
	path string // unix socket file to remove at close
}

// FD is the raw descriptor passed to workers.
func (l *Listener) FD() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fd
}

// Close closes the socket and removes its unix socket file.
func (l *Listener) Close() error {
	err := unix.Close(l.FD())
	if l.path != "" {
		os.Remove(l.path)
	}
	return err
}

// Listen binds addr once: no SO_REUSEPORT, so an app that binds the same port
// itself fails loudly instead of silently joining.
func Listen(addr procfile.Address) (*Listener, error) {
	l := &Listener{Addr: addr}
	var err error
	if addr.Network == "unix" {
		l.fd, err = listenUnix(addr.Addr)
		l.path = addr.Addr
	} else {
		l.fd, err = listenTCP(addr.Addr)
	}
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr.Raw, err)
	}
	return l, nil
}

func listenTCP(hostport string) (int, error) {
	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		return -1, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return -1, fmt.Errorf("bad port %q", portStr)
	}
	ip, err := listenIP(host)
	if err != nil {
		return -1, err
	}
	fd, err := bindTCP(ip, port)
	if err != nil && host == "" && errors.Is(err, syscall.EAFNOSUPPORT) {
		fd, err = bindTCP(netip.IPv4Unspecified(), port) // no IPv6 on this host
	}
	return fd, err
}

// listenIP is the address a listen host is bound on: every address for
// "", 127.0.0.1 for localhost, a host name's first address.
func listenIP(host string) (netip.Addr, error) {
	switch host {
	case "":
		return netip.IPv6Unspecified(), nil
	case "localhost":
		return netip.MustParseAddr("127.0.0.1"), nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		ips, lerr := net.LookupIP(host)
		if lerr != nil || len(ips) == 0 {
			return netip.Addr{}, fmt.Errorf("cannot resolve %q", host)
		}
		ip, _ = netip.AddrFromSlice(ips[0])
	}
	return ip.Unmap(), nil
}

func bindTCP(ip netip.Addr, port int) (int, error) {
	family := unix.AF_INET6
	var sa unix.Sockaddr = &unix.SockaddrInet6{Port: port, Addr: ip.As16()}
	if ip.Is4() {
		family = unix.AF_INET
		sa = &unix.SockaddrInet4{Port: port, Addr: ip.As4()}
	}
	fd, err := socketCloexec(family, unix.SOCK_STREAM)
	if err != nil {
		return -1, err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if family == unix.AF_INET6 && ip.IsUnspecified() {
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0) // ":8080" serves v4 and v6
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := unix.Listen(fd, listenBacklog); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func listenUnix(path string) (int, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return -1, fmt.Errorf("%s exists and is not a socket", path)
		}
		// A socket file nobody answers on is stale (a runner that was killed).
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return -1, fmt.Errorf("%s is in use by another process", path)
		}
		os.Remove(path)
	}
	fd, err := socketCloexec(unix.AF_UNIX, unix.SOCK_STREAM)
	if err != nil {
		return -1, err
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := unix.Listen(fd, listenBacklog); err != nil {
		unix.Close(fd)
		os.Remove(path)
		return -1, err
	}
	return fd, nil
}

// Listening reports whether the socket still accepts connections: a worker
// that calls shutdown() on its copy stops the listen for everyone.
func (l *Listener) Listening() bool {
	v, err := unix.GetsockoptInt(l.FD(), unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	return err == nil && v == 1
}

// Renew re-creates a socket that stopped listening, on the same address.
func (l *Listener) Renew() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.path != "" {
		os.Remove(l.path)
	}
	// Bind the new socket first (the old one no longer listens, so its
	// address is free to SO_REUSEADDR): on failure l.fd stays a valid
	// descriptor of ours instead of a number the next open file reuses.
	n, err := Listen(l.Addr)
	if err != nil {
		return err
	}
	unix.Close(l.fd)
	l.fd = n.fd
	return nil
}

// Adopt wraps a socket this process inherited (systemd socket activation).
func Adopt(fd int, name string, addr procfile.Address) *Listener {
	unix.CloseOnExec(fd)
	return &Listener{Addr: addr, Name: name, fd: fd}
}

// sockName returns the local address of a listening fd as host:port or a path.
func sockName(fd int) string {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return ""
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)).String()
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port)).String()
	case *unix.SockaddrUnix:
		return a.Name
	}
	return ""
}

// activated holds the sockets this process was given by systemd socket
// activation (LISTEN_PID = our pid), by local address, until bind adopts them.
type activated map[string]int

// inheritedSockets reads LISTEN_FDS once and clears the variables so they
// are never passed on.
func inheritedSockets() activated {
	defer func() {
		for _, k := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
			os.Unsetenv(k)
		}
	}()
	if os.Getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) {
		return nil
	}
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || n <= 0 {
		return nil
	}
	out := activated{}
	for fd := 3; fd < 3+n; fd++ {
		if name := sockName(fd); name != "" {
			out[name] = fd
		}
	}
	return out
}

// take returns the inherited socket bound to addr, if any.
func (a activated) take(addr procfile.Address) (int, bool) {
	if len(a) == 0 {
		return -1, false
	}
	var keys []string
	if addr.Network == "unix" {
		keys = []string{addr.Addr}
	} else if host, port, err := net.SplitHostPort(addr.Addr); err == nil {
		if n, err := strconv.Atoi(port); err == nil {
			port = strconv.Itoa(n) // ":010080" is bound, and passed, as 10080
		}
		switch host {
		case "":
			keys = []string{"[::]:" + port, "0.0.0.0:" + port}
		case "localhost":
			keys = []string{"127.0.0.1:" + port}
		default:
			if ip, err := netip.ParseAddr(host); err == nil {
				keys = []string{netip.AddrPortFrom(ip.Unmap(), 0).Addr().String()}
				if ip.Is6() && !ip.Is4In6() {
					keys[0] = "[" + keys[0] + "]"
				}
				keys[0] += ":" + port
			}
		}
	}
	for _, k := range keys {
		if fd, ok := a[k]; ok {
			delete(a, k)
			return fd, true
		}
	}
	return -1, false
}

// closeRest closes inherited sockets no listen asked for.
func (a activated) closeRest() {
	for _, fd := range a {
		unix.Close(fd)
	}
}
