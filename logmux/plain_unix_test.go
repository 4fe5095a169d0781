//go:build unix

package logmux

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// plainJSON reads no byte past its slice: each slice tried ends where a page
// that may not be read begins, so one byte too far is a fault.
func TestPlainJSONStaysInBounds(t *testing.T) {
	page := unix.Getpagesize()
	mem, err := unix.Mmap(-1, 0, 2*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	if err := unix.Mprotect(mem[page:], unix.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	for n := 0; n <= 100; n++ {
		b := mem[page-n : page : page]
		copy(b, strings.Repeat("x", n))
		if got := plainJSON(b); got != n {
			t.Fatalf("%d plain bytes: got %d", n, got)
		}
		if n > 0 {
			b[n-1] = '"'
			if got := plainJSON(b); got != n-1 {
				t.Fatalf("%d bytes, the last a quote: got %d", n, got)
			}
		}
	}
}
