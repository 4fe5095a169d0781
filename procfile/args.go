package procfile

// What execve accepts. The kernel copies every argv and environment string,
// each with its NUL, and an array of pointers to them onto the new process's
// stack; past its limit exec fails with E2BIG ("argument list too long").
// Load checks each process's command and merged environment against these
// limits so that the failure is a configuration error with a line, and the
// runner checks the expanded argv and full environment again at start.

// ArgStrMax is the most bytes one argv or environment string may take, its
// NUL included: Linux's MAX_ARG_STRLEN (32 pages of 4 KiB). macOS and the
// BSDs have no such limit of their own; it applies everywhere so that a
// Clusterfile that loads on one platform also runs on the others.
const ArgStrMax = 128 << 10

// ArgSize is the room argv and env take when exec'd, as the kernel counts
// it: each string, its NUL, and one 8-byte pointer.
func ArgSize(argv, env []string) int {
	n := 0
	for _, s := range argv {
		n += len(s) + 1 + 8
	}
	for _, s := range env {
		n += len(s) + 1 + 8
	}
	return n
}
