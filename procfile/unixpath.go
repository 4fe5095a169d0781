package procfile

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// UnixPathMax is the longest path a unix socket can be bound at on this
// platform: the kernel's sun_path less its terminating NUL, 107 bytes on
// Linux and 103 on macOS and FreeBSD. Longer, bind fails with EINVAL.
const UnixPathMax = len(unix.RawSockaddrUnix{}.Path) - 1

// UnixPathMaxBSD is macOS's and FreeBSD's UnixPathMax (their sun_path is
// 104 bytes): a Clusterfile that loads on Linux is told when its socket
// would not bind there.
const UnixPathMaxBSD = 103

// checkUnixPath reports a unix socket path (absolute, as bound) that the
// kernel would refuse.
func checkUnixPath(p string) error {
	if len(p) <= UnixPathMax {
		return nil
	}
	elsewhere := ""
	if UnixPathMax != UnixPathMaxBSD {
		elsewhere = fmt.Sprintf(" (%d on macOS and FreeBSD)", UnixPathMaxBSD)
	}
	return fmt.Errorf("%s is %d bytes; a unix socket path is at most %d here%s", p, len(p), UnixPathMax, elsewhere)
}
