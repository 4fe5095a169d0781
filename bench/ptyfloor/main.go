//go:build linux

// Command ptyfloor is the start+stop benchmark's Go floor: what hivemind
// does at its core, and nothing else. Each argument is a command line run
// by /bin/sh -c (as hivemind and goreman run every Procfile line) through
// its own pseudo-terminal (stdin, stdout and stderr, a new session with the
// terminal as its controlling one, as hivemind's pty.Start does);
// output is copied line by line with a "name | " prefix; it exits when
// every command has exited.
//
//	ptyfloor 'echo a' 'echo b'
package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

func main() {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, line := range os.Args[1:] {
		master, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		if err != nil {
			fatal(err)
		}
		if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
			fatal(err)
		}
		n, err := unix.IoctlGetInt(master, unix.TIOCGPTN)
		if err != nil {
			fatal(err)
		}
		slave, err := unix.Open(fmt.Sprintf("/dev/pts/%d", n), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		if err != nil {
			fatal(err)
		}
		path, argv := "/bin/sh", []string{"sh", "-c", line}
		attr := &syscall.ProcAttr{
			Env:   os.Environ(),
			Files: []uintptr{uintptr(slave), uintptr(slave), uintptr(slave)},
			Sys:   &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0},
		}
		pid, err := syscall.ForkExec(path, argv, attr)
		unix.Close(slave)
		if err != nil {
			fatal(err)
		}
		name := fmt.Sprintf("p%d", i+1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(os.NewFile(uintptr(master), name))
			for sc.Scan() { // ends with EIO once the last holder of the slave is gone
				mu.Lock()
				fmt.Printf("%s | %s\n", name, strings.TrimRight(sc.Text(), "\r"))
				mu.Unlock()
			}
			var ws syscall.WaitStatus
			syscall.Wait4(pid, &ws, 0, nil)
		}()
	}
	wg.Wait()
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "ptyfloor:", err)
	os.Exit(1)
}
