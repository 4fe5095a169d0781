//go:build unix && (!linux || portable)

package runner

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
)

// bindPrivate binds and listens on a unix socket at path with mode 0600.
// Where the socket's own mode does not carry over to its file (the BSDs,
// macOS), it is bound inside a fresh 0700 directory, made 0600 and linked
// into place: never reachable with wider permissions. link, not rename,
// so that a socket another runner bound at path in the meantime is not
// replaced but reported (EADDRINUSE, as bind would).
func bindPrivate(path string) (*net.UnixListener, error) {
	tmp, err := os.MkdirTemp(filepath.Dir(path), ".cluster-sock-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	tmpSock := filepath.Join(tmp, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmpSock, Net: "unix"})
	if err != nil {
		return nil, err
	}
	ln.SetUnlinkOnClose(false)
	err = os.Chmod(tmpSock, 0o600)
	if err == nil {
		err = os.Link(tmpSock, path)
	}
	if err != nil {
		ln.Close()
		if le, ok := err.(*os.LinkError); ok && os.IsExist(le.Err) {
			return nil, &os.SyscallError{Syscall: "link", Err: syscall.EADDRINUSE}
		}
		return nil, err
	}
	return ln, nil
}
