package watch

import (
	"fmt"
	"os"
)

// budgetWarning is the line a user gets when a tree is too big for a
// notifier that needs a descriptor per file (kqueue): what happened and
// what the watcher does instead.
func budgetWarning(root string, budget int, poll string) string {
	return fmt.Sprintf("watch: %s holds more than %d files and directories, and kqueue needs a descriptor for each; polling every %s instead (watch_poll sets the interval, watch_ignore shrinks the tree)",
		root, budget, poll)
}

// entries counts what a directory holds: what kqueue opens a descriptor for
// (a subdirectory is counted again as itself when it is watched, so the sum
// errs on the high side).
func entries(dir string) int {
	f, err := os.Open(dir)
	if err != nil {
		return 0
	}
	defer f.Close()
	names, _ := f.Readdirnames(-1)
	return len(names)
}
