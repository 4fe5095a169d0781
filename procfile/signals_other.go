//go:build !linux

package procfile

import "syscall"

// platformSignals are the signal names only this platform has: SIGPWR is
// Linux's.
var platformSignals = map[string]syscall.Signal{}
