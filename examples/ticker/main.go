// Command ticker is a small non-HTTP worker for the logs demo: a numbered
// line every second on stdout, every fifth on stderr; it exits 0 on SIGTERM.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := 1; ; i++ {
		select {
		case <-sigs:
			fmt.Println("stopping")
			return
		case <-tick.C:
		}
		if i%5 == 0 {
			fmt.Fprintf(os.Stderr, "tick %d (on stderr)\n", i)
		} else {
			fmt.Printf("tick %d\n", i)
		}
	}
}
