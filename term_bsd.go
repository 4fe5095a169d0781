//go:build darwin || freebsd

package main

import "golang.org/x/sys/unix"

// The termios requests of macOS and FreeBSD (status --watch's cbreak mode, attach's raw mode).
const (
	termiosGet = unix.TIOCGETA
	termiosSet = unix.TIOCSETA
)
