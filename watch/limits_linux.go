package watch

import (
	"os"
	"strings"
)

// sysctlValue reads an fs.inotify sysctl so the warning shows the limit
// that was hit.
func sysctlValue(name string) string {
	b, err := os.ReadFile("/proc/sys/fs/inotify/" + name)
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}
