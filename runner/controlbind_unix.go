//go:build unix && (!linux || portable)

package runner

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"syscall"

	"github.com/cluster-run/cluster/procfile"
)

// AbstractNamespace: macOS and the BSDs have no sockets outside the file
// system (nor does the portable build, which stands for them).
const AbstractNamespace = false

func bindAbstract(name string) (*net.UnixListener, error) {
	return nil, fmt.Errorf("control socket %s: no abstract socket namespace on this system", name)
}

func probeAbstract(string) (Probe, int, error) { return ProbeAbsent, -1, nil }

// bindPrivate binds and listens on a unix socket at path with mode 0600.
// Where the socket's own mode does not carry over to its file (the BSDs,
// macOS), it is bound inside a fresh 0700 directory, made 0600 and linked
// into place: never reachable with wider permissions. link, not rename,
// so that a socket another runner bound at path in the meantime is not
// replaced but reported (EADDRINUSE, as bind would).
func bindPrivate(path string) (*net.UnixListener, error) {
	tmp, err := tempSockDir(filepath.Dir(path))
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

// The temporary socket is DIR/.cR/s, R random: len(DIR) + tempSockOver +
// len(R) bytes, where the final path is len(DIR) + 1 + len(name). R gets
// the room the kernel's limit leaves: at least 1 byte, at most tempSockRand.
const (
	tempSockOver = len("/.c") + len("/s")
	tempSockRand = 8
)

// bindMax is the longest path bindPrivate binds at: the kernel's limit,
// or less for a final name under tempSockOver bytes, whose temporary path
// is longer than itself.
func bindMax(path string) int {
	name := len(filepath.Base(path))
	return min(procfile.UnixPathMax, procfile.UnixPathMax-(tempSockOver+1)+(1+name))
}

// tempSockDir makes the 0700 directory the socket is bound in first.
func tempSockDir(dir string) (string, error) {
	n := min(tempSockRand, procfile.UnixPathMax-len(dir)-tempSockOver)
	if n < 1 {
		return "", errors.New("no room for a temporary socket name") // bindMax rules this out
	}
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789"
	for range 100 {
		b := []byte(".c")
		for range n {
			b = append(b, chars[rand.N(len(chars))])
		}
		tmp := filepath.Join(dir, string(b))
		err := os.Mkdir(tmp, 0o700)
		if err == nil {
			return tmp, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return "", err
		}
	}
	return "", &os.PathError{Op: "mkdir", Path: filepath.Join(dir, ".c*"), Err: os.ErrExist}
}
