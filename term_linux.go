package main

import "golang.org/x/sys/unix"

// Linux's termios requests (status --watch's cbreak mode, attach's raw mode).
const (
	termiosGet = unix.TCGETS
	termiosSet = unix.TCSETS
)
