// Command launcher is the benchmark's baseline: N copies of an app sharing
// one listening socket at fd 3, with no supervision at all.
//
//	launcher -listen 127.0.0.1:8080 -n 2 -- ./hello
package main

import (
	"flag"
	"log"
	"net"
	"os"
	"os/exec"
	"strconv"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:8080", "address to bind")
	n := flag.Int("n", 2, "copies")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File() // a dup, in blocking mode: fine, the launcher never accepts
	if err != nil {
		log.Fatal(err)
	}
	for i := 1; i <= *n; i++ {
		cmd := exec.Command(flag.Arg(0), flag.Args()[1:]...)
		cmd.Env = append(os.Environ(), "LISTEN_FDS=1", "CLUSTER_PROCESS=web", "CLUSTER_WORKER="+strconv.Itoa(i))
		cmd.ExtraFiles = []*os.File{f}
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Start(); err != nil {
			log.Fatal(err)
		}
		defer cmd.Wait()
	}
}
