//go:build unix

package runner

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestTailKeepsLastLines(t *testing.T) {
	var tl tail
	if got := tl.get(); got != nil {
		t.Errorf("empty tail: %q", got)
	}
	buf := []byte("reused")
	for i := 1; i <= 5; i++ {
		copy(buf, "line "+strconv.Itoa(i))
		tl.add(buf[:6])
	}
	if got := strings.Join(tl.get(), ","); got != "line 1,line 2,line 3,line 4,line 5" {
		t.Errorf("got %s", got)
	}
	long := bytes.Repeat([]byte("y"), 100<<10)
	for i := 6; i <= 45; i++ {
		if i == 30 {
			tl.add(long)
			continue
		}
		tl.add([]byte("line " + strconv.Itoa(i)))
	}
	got := tl.get()
	if len(got) != tailLines || got[0] != "line 26" || got[4] != string(long) || got[19] != "line 45" {
		t.Errorf("got %d lines, first %q, last %q", len(got), got[0], got[len(got)-1])
	}
	tl.add([]byte("short")) // replaces "line 26"; the long line's buffer is still in use
	for i := 0; i < tailLines; i++ {
		tl.add([]byte("x"))
	}
	for _, l := range tl.lines {
		if cap(l) > tailKeep {
			t.Errorf("a %d-byte buffer kept after the long line left", cap(l))
		}
	}
}

func TestTailAddAllocatesNothing(t *testing.T) {
	var tl tail
	line := []byte("an ordinary log line of some sixty bytes, give or take a few")
	for i := 0; i < tailLines; i++ {
		tl.add(line)
	}
	if n := testing.AllocsPerRun(1000, func() { tl.add(line) }); n != 0 {
		t.Errorf("%.1f allocations per line", n)
	}
}

func TestCopyOutputCopiesEverything(t *testing.T) {
	for _, chunk := range []int{1, 100, 511, 512, 513, 40 << 10} {
		data := make([]byte, 300<<10)
		for i := range data {
			data[i] = byte(i * 7)
		}
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for p := data; len(p) > 0; {
				n := min(chunk, len(p))
				w.Write(p[:n])
				p = p[n:]
			}
			w.Close()
		}()
		var out bytes.Buffer
		if err := copyOutput(&out, r); err != nil {
			t.Fatal(err)
		}
		r.Close()
		if !bytes.Equal(out.Bytes(), data) {
			t.Errorf("chunks of %d: copied %d of %d bytes, equal %v", chunk, out.Len(), len(data), bytes.Equal(out.Bytes(), data))
		}
	}
}
