// Command cluster runs the process types of a Clusterfile or Procfile as
// supervised workers behind shared sockets. See README.md and SPEC.md.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "cluster: not implemented yet")
	return 2
}
