package logmux

import (
	"bytes"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func heapInuse() uint64 {
	runtime.GC()
	runtime.GC() // a sync.Pool lets go of its buffers at the second
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// benchIdleAfterBurst measures what the writers of 32 workers hold once each
// printed 20,000 lines (given in 32 KiB reads, as the runner copies a busy
// pipe, with a partial line at every read's end) and went idle: Go heap in
// use then, against before they started, in the same run. It reports the
// growth in MiB and the ratio after/before.
func benchIdleAfterBurst(b *testing.B, opts Options) {
	const workers, lines = 32, 20000
	data := bytes.Repeat([]byte(strings.Repeat("x", 59)+"\n"), lines)
	var delta, ratio float64
	for n := 0; n < b.N; n++ {
		before := heapInuse()
		m := New(io.Discard, opts)
		ws := make([]io.WriteCloser, workers)
		var wg sync.WaitGroup
		for i := range ws {
			ws[i] = m.Writer(Stream{Process: "web", Worker: i + 1, PID: 1000 + i, Stream: "stdout"})
			wg.Add(1)
			go func() {
				defer wg.Done()
				for p := data; len(p) > 0; {
					k := min(32<<10, len(p))
					ws[i].Write(p[:k])
					p = p[k:]
				}
			}()
		}
		wg.Wait()
		after := heapInuse() // every writer idle, still open
		delta = float64(int64(after)-int64(before)) / (1 << 20)
		ratio = float64(after) / float64(before)
		for _, w := range ws {
			w.Close()
		}
	}
	b.ReportMetric(delta, "MiB-held-idle")
	b.ReportMetric(ratio, "x-heap-before")
}

func BenchmarkIdleAfterBurstText(b *testing.B) { benchIdleAfterBurst(b, Options{}) }
func BenchmarkIdleAfterBurstJSON(b *testing.B) { benchIdleAfterBurst(b, Options{JSON: true}) }
