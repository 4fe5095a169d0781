package main

import (
	"os"
	"os/signal"
	"syscall"
	"time"
)

// sigCount is the `-- COMMAND` of TestCtrlCReachesCommandOnce: it writes a
// line to ints.txt per SIGINT it gets, and exits 0 once the file "stop"
// appears.
func sigCount() {
	ints := make(chan os.Signal, 8)
	signal.Notify(ints, syscall.SIGINT)
	os.WriteFile("cmd.ready", []byte("1"), 0o644)
	f, err := os.OpenFile("ints.txt", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		os.Exit(3)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	for {
		select {
		case <-ints:
			f.WriteString("INT\n")
		case <-tick.C:
			if _, err := os.Stat("stop"); err == nil {
				os.Exit(0)
			}
		}
	}
}
