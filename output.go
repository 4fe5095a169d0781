package main

import (
	"io"
	"os"
	"sync"
)

// output is the stdout of every command (run's workers' output aside, which
// logmux writes and reports on): it keeps the first write error and fails
// every later write without trying it, so that a command stops printing at
// its first failed write, as cat does, and run turns the error into one line
// on stderr and exit status 1, also where the command ignored it
// (`cluster status > /dev/full`). A write to a closed pipe ends the process
// by SIGPIPE before that, quietly (`cluster logs -f | head -1`).
type output struct {
	w   io.Writer
	mu  sync.Mutex // attach writes from a goroutine of its own
	err error
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return 0, o.err
	}
	n, err := o.w.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	o.err = err
	return n, err
}

// failed returns the first write error, or nil.
func (o *output) failed() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

// underlying returns the writer under an output (for `cluster run`, whose
// log lines go through logmux), or w itself.
func underlying(w io.Writer) io.Writer {
	if o, ok := w.(*output); ok {
		return o.w
	}
	return w
}

// outputFile returns the file w writes to, if it is one: for terminal checks.
func outputFile(w io.Writer) (*os.File, bool) {
	f, ok := underlying(w).(*os.File)
	return f, ok
}
