package logmux

import (
	"bytes"
	"io"
	"os"
	"sync"
	"testing"
)

// The benchmark feeds W writers of 60-byte lines through real pipes (what a
// worker's stdout is) and writes to /dev/null, once through the mux and once
// with a plain io.Copy of each pipe (cat), in the same run. It reports lines/s,
// MB/s of input, and the mux's throughput as a fraction of the plain copy's.
// MuxTerm is text mode with Terminal on: clean lines take the sanitiser's
// fast path.

const lineLen = 60

func payload(lines int) []byte {
	var b bytes.Buffer
	line := bytes.Repeat([]byte("x"), lineLen-1)
	for i := 0; i < lines; i++ {
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// pump runs writers goroutines that each push data through their own pipe
// while consume drains the pipe's read end.
func pump(b *testing.B, writers int, data []byte, consume func(i int, r io.Reader)) {
	var wg sync.WaitGroup
	for i := 0; i < writers; i++ {
		r, w, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			for n := 0; n < b.N; n++ {
				w.Write(data)
			}
			w.Close()
		}()
		go func() {
			defer wg.Done()
			consume(i, r)
			r.Close()
		}()
	}
	wg.Wait()
}

func devnull(b *testing.B) *os.File {
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	return f
}

var plainMBps = map[int]float64{}

func benchPlain(b *testing.B, writers int) {
	data := payload(1000)
	out := devnull(b)
	defer out.Close()
	b.SetBytes(int64(len(data) * writers))
	b.ResetTimer()
	pump(b, writers, data, func(_ int, r io.Reader) { io.Copy(out, r) })
	b.StopTimer()
	mbps := float64(len(data)*writers*b.N) / b.Elapsed().Seconds() / 1e6
	plainMBps[writers] = mbps
	b.ReportMetric(float64(1000*writers*b.N)/b.Elapsed().Seconds(), "lines/s")
}

func benchMux(b *testing.B, writers int, opts Options) {
	data := payload(1000)
	out := devnull(b)
	defer out.Close()
	m := New(out, opts)
	b.SetBytes(int64(len(data) * writers))
	b.ResetTimer()
	pump(b, writers, data, func(i int, r io.Reader) {
		m.Copy(Stream{Process: "web", Worker: i + 1, PID: 1000 + i, Stream: "stdout"}, r)
	})
	b.StopTimer()
	mbps := float64(len(data)*writers*b.N) / b.Elapsed().Seconds() / 1e6
	b.ReportMetric(float64(1000*writers*b.N)/b.Elapsed().Seconds(), "lines/s")
	if base := plainMBps[writers]; base > 0 {
		b.ReportMetric(mbps/base, "x-of-copy")
	}
}

// Run order matters: each Plain runs before the Mux it is the baseline of.
func BenchmarkCopy2(b *testing.B)     { benchPlain(b, 2) }
func BenchmarkMux2(b *testing.B)      { benchMux(b, 2, Options{}) }
func BenchmarkMuxTerm2(b *testing.B)  { benchMux(b, 2, Options{Terminal: true}) }
func BenchmarkMuxJSON2(b *testing.B)  { benchMux(b, 2, Options{JSON: true}) }
func BenchmarkCopy16(b *testing.B)    { benchPlain(b, 16) }
func BenchmarkMux16(b *testing.B)     { benchMux(b, 16, Options{}) }
func BenchmarkMuxTerm16(b *testing.B) { benchMux(b, 16, Options{Terminal: true}) }
func BenchmarkMuxJSON16(b *testing.B) { benchMux(b, 16, Options{JSON: true}) }
