//go:build !linux

package watch

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// descriptorBudget is how many files and directories one watcher watches
// before it polls instead. fsnotify's kqueue backend (macOS, the BSDs) holds
// an open descriptor for every watched directory and for every file in it,
// and the runner needs descriptors for its workers' pipes, terminals and
// sockets: past this many, polling is the better deal.
const descriptorBudget = 4096

// limitWarning turns an error from creating the kqueue, adding a watch or
// fsnotify's Errors channel into the one line a user needs when the
// descriptor limit was hit. It returns "" for any other error. An error
// that lost its errno on the way is known by its text (EMFILE's and
// ENFILE's both begin so).
func limitWarning(err error, watched int, poll string) string {
	if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || strings.Contains(err.Error(), "too many open files") {
		return fmt.Sprintf("watch: out of file descriptors after %d directories (kqueue needs one per watched file and directory); polling every %s instead; raise ulimit -n or narrow watch_ignore",
			watched, poll)
	}
	return ""
}
