package watch

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// descriptorBudget is 0: inotify watches a directory with no descriptor of
// its own, so the tree's size costs nothing but inotify watches (limited by
// the sysctl limitWarning names).
const descriptorBudget = 0

// limitWarning turns an error from creating the inotify instance or adding
// a watch into the one line a user needs when a kernel limit was hit: what
// happened, what the watcher does instead, and the sysctl to raise. It
// returns "" for any other error.
func limitWarning(err error, watched int, poll string) string {
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return fmt.Sprintf("watch: out of inotify watches after %d directories (fs.inotify.max_user_watches=%s); polling every %s instead; raise it with: sysctl -w fs.inotify.max_user_watches=524288",
			watched, sysctlValue("max_user_watches"), poll)
	case errors.Is(err, syscall.EMFILE):
		return fmt.Sprintf("watch: too many inotify instances or open files (fs.inotify.max_user_instances=%s); polling every %s instead; raise it with: sysctl -w fs.inotify.max_user_instances=1024 (or raise ulimit -n)",
			sysctlValue("max_user_instances"), poll)
	}
	return ""
}

// sysctlValue reads an fs.inotify sysctl so the warning shows the limit
// that was hit.
func sysctlValue(name string) string {
	b, err := os.ReadFile("/proc/sys/fs/inotify/" + name)
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}
