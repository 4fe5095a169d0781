//go:build unix

package runner

import (
	"golang.org/x/sys/unix"

	"bytes"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// lineCounter is the runner's side of an output stream, as the log writer's
// OnLine hook sees it: each line goes to the worker's tail and its type's
// log ring.
type lineCounter struct {
	tail    *tail
	ring    *logRing
	worker  int
	at      int64 // the time of this Write, as loggedStream notes it
	partial []byte
	bytes   *atomic.Int64
}

func (c *lineCounter) Write(p []byte) (int, error) {
	n := len(p)
	c.at = time.Now().UnixNano()
	for {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			c.partial = append(c.partial, p...)
			break
		}
		line := p[:i]
		if len(c.partial) > 0 {
			c.partial = append(c.partial, line...)
			line = c.partial
		}
		c.ring.add(c.worker, 1, streamStdout, c.at, line)
		c.tail.add(line)
		c.partial = c.partial[:0]
		p = p[i+1:]
	}
	c.bytes.Add(int64(n))
	return n, nil
}

func (c *lineCounter) Close() error { return nil }

func heapInuse() uint64 {
	runtime.GC()
	runtime.GC() // a sync.Pool lets go of its buffers at the second
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// BenchmarkIdleAfterBurstMemory is what the runner's side of worker output
// (the copy of each stream, the tail of each worker) holds once 32 workers
// printed 20,000 lines each on stdout and stderr and went idle: Go heap in
// use then, against before they started (baseline: the same process, the
// same run). It reports the growth in MiB and the ratio after/before.
func BenchmarkIdleAfterBurstMemory(b *testing.B) {
	const workers, lines = 32, 20000
	line := []byte(strings.Repeat("x", 59) + "\n")
	chunk := bytes.Repeat(line, 4096/len(line))                   // a buffered stdout's writes
	chunks := (lines/2 + 4096/len(line) - 1) / (4096 / len(line)) // per stream: half the lines on each
	var delta, ratio float64
	for n := 0; n < b.N; n++ {
		before := heapInuse()
		var (
			copied  sync.WaitGroup
			written sync.WaitGroup
			got     atomic.Int64
			ends    []*os.File
			tails   = make([]tail, workers)
			ring    = newLogRing("web") // one type of 32 workers
			procs   = make([]proc, workers)
		)
		for i := 0; i < workers; i++ {
			for s := 0; s < 2; s++ {
				var fds [2]int
				if err := pipeCloexec(fds[:]); err != nil {
					b.Fatal(err)
				}
				w := os.NewFile(uintptr(fds[1]), "worker-end")
				ends = append(ends, w)
				procs[i].copied.Add(1)
				copied.Add(1)
				go func() {
					defer copied.Done()
					unix.SetNonblock(fds[0], true)
					procs[i].copy(nil, os.NewFile(uintptr(fds[0]), "worker-output"), &lineCounter{tail: &tails[i], ring: ring, worker: i, bytes: &got})
				}()
				written.Add(1)
				go func() {
					defer written.Done()
					for range chunks {
						w.Write(chunk)
					}
				}()
			}
		}
		written.Wait()
		want := int64(workers * 2 * chunks * len(chunk))
		deadline := time.Now().Add(30 * time.Second)
		for got.Load() < want && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if got.Load() != want {
			b.Fatalf("copied %d of %d bytes", got.Load(), want)
		}
		after := heapInuse() // every worker idle, its streams open
		delta = float64(int64(after)-int64(before)) / (1 << 20)
		ratio = float64(after) / float64(before)
		for _, w := range ends {
			w.Close()
		}
		copied.Wait()
		runtime.KeepAlive(tails)
		runtime.KeepAlive(ring)
	}
	b.ReportMetric(delta, "MiB-held-idle")
	b.ReportMetric(ratio, "x-heap-before")
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "idle after burst: %+.2f MiB heap in use (%.2fx before)\n", delta, ratio)
	}
}

// BenchmarkOnLine is the cost per line of what the runner does with each
// line of output (its OnLine hook), the worker's tail and the type's log
// ring, against the tail alone (the hook before the ring), in the same run:
// x-of-tail is the time per line with the ring over the time without.
func BenchmarkOnLine(b *testing.B) {
	line := []byte(strings.Repeat("x", 59))
	per := func(withRing bool) float64 {
		var t tail
		r := newLogRing("web")
		const n = 200000
		start := time.Now()
		at := start.UnixNano()
		for i := range n {
			if withRing {
				r.add(i%32, 1, streamStdout, at, line)
			}
			t.add(line)
		}
		return float64(time.Since(start).Nanoseconds()) / n
	}
	var base, ring float64
	for range b.N {
		base += per(false)
		ring += per(true)
	}
	b.ReportMetric(base/float64(b.N), "ns/line-tail")
	b.ReportMetric(ring/float64(b.N), "ns/line-tail+ring")
	b.ReportMetric(ring/base, "x-of-tail")
}
