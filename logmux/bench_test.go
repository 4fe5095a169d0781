package logmux

import (
	"bytes"
	"io"
	"os"
	"sync"
	"testing"
	"time"
)

// The benchmark feeds W writers of 60-byte lines through real pipes (what a
// worker's stdout is) and writes to /dev/null, once through the mux and once
// with a plain io.Copy of each pipe (cat), in the same run. It reports lines/s,
// MB/s of input, and the mux's throughput as a fraction of the plain copy's.
// MuxTerm is text mode with Terminal on: clean lines take the sanitiser's
// fast path. MuxJSON also reports its throughput as a fraction of text
// mode's (Mux, same writers), in input bytes: JSON writes 2.5 times as many.

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

// pump runs writers goroutines that each push data reps times through their
// own pipe while consume drains the pipe's read end.
func pump(b *testing.B, writers, reps int, data []byte, consume func(i int, r io.Reader)) {
	var wg sync.WaitGroup
	for i := 0; i < writers; i++ {
		r, w, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range reps {
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

var plainMBps, textMBps = map[int]float64{}, map[int]float64{}

func benchPlain(b *testing.B, writers int) {
	data := payload(1000)
	out := devnull(b)
	defer out.Close()
	b.SetBytes(int64(len(data) * writers))
	b.ResetTimer()
	pump(b, writers, b.N, data, func(_ int, r io.Reader) { io.Copy(out, r) })
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
	pump(b, writers, b.N, data, func(i int, r io.Reader) {
		m.Copy(Stream{Process: "web", Worker: i + 1, PID: 1000 + i, Stream: "stdout"}, r)
	})
	b.StopTimer()
	mbps := float64(len(data)*writers*b.N) / b.Elapsed().Seconds() / 1e6
	b.ReportMetric(float64(1000*writers*b.N)/b.Elapsed().Seconds(), "lines/s")
	if base := plainMBps[writers]; base > 0 {
		b.ReportMetric(mbps/base, "x-of-copy")
	}
	if !opts.JSON && !opts.Terminal {
		textMBps[writers] = mbps
	} else if base := textMBps[writers]; opts.JSON && base > 0 {
		b.ReportMetric(mbps/base, "x-of-text")
	}
}

// Run order matters: each Plain runs before the Mux it is the baseline of,
// and Mux before MuxJSON. Run with -count 1 (repeat the command to repeat),
// so that each ratio is of the two runs next to each other.
func BenchmarkCopy2(b *testing.B)     { benchPlain(b, 2) }
func BenchmarkMux2(b *testing.B)      { benchMux(b, 2, Options{}) }
func BenchmarkMuxTerm2(b *testing.B)  { benchMux(b, 2, Options{Terminal: true}) }
func BenchmarkMuxJSON2(b *testing.B)  { benchMux(b, 2, Options{JSON: true}) }
func BenchmarkCopy16(b *testing.B)    { benchPlain(b, 16) }
func BenchmarkMux16(b *testing.B)     { benchMux(b, 16, Options{}) }
func BenchmarkMuxTerm16(b *testing.B) { benchMux(b, 16, Options{Terminal: true}) }
func BenchmarkMuxJSON16(b *testing.B) { benchMux(b, 16, Options{JSON: true}) }

// benchRatio times two ways of draining the same pipes, base and subject, in
// alternating rounds of 20 payloads per writer (the order swapping every
// round), so that a machine whose load drifts weighs on both alike, and
// reports the subject's throughput as a fraction of the base's.
func benchRatio(b *testing.B, writers int, metric string, base, subject drain) {
	data := payload(1000)
	out := devnull(b)
	defer out.Close()
	var spent [2]time.Duration // base, subject
	round := func(k int) {
		consume := [2]drain{base, subject}[k](out)
		start := time.Now()
		pump(b, writers, 20, data, consume)
		spent[k] += time.Since(start)
	}
	b.SetBytes(int64(2 * 20 * len(data) * writers))
	for n := 0; n < b.N; n++ {
		round(n % 2)
		round(1 - n%2)
	}
	b.ReportMetric(spent[0].Seconds()/spent[1].Seconds(), metric)
}

// A drain returns what consumes writer i's pipe r into out.
type drain func(out io.Writer) func(i int, r io.Reader)

func copyDrain(out io.Writer) func(int, io.Reader) {
	return func(_ int, r io.Reader) { io.Copy(out, r) }
}

func muxDrain(opts Options) drain {
	return func(out io.Writer) func(int, io.Reader) {
		m := New(out, opts)
		return func(i int, r io.Reader) {
			m.Copy(Stream{Process: "web", Worker: i + 1, PID: 1000 + i, Stream: "stdout"}, r)
		}
	}
}

func BenchmarkJSONvsText2(b *testing.B) {
	benchRatio(b, 2, "json-x-of-text", muxDrain(Options{}), muxDrain(Options{JSON: true}))
}
func BenchmarkJSONvsText16(b *testing.B) {
	benchRatio(b, 16, "json-x-of-text", muxDrain(Options{}), muxDrain(Options{JSON: true}))
}
func BenchmarkTextvsCopy2(b *testing.B) {
	benchRatio(b, 2, "text-x-of-copy", copyDrain, muxDrain(Options{}))
}
func BenchmarkTextvsCopy16(b *testing.B) {
	benchRatio(b, 16, "text-x-of-copy", copyDrain, muxDrain(Options{}))
}

// BenchmarkFormatJSONvsText formats one 32 KiB read of 60-byte lines into
// io.Discard, text and JSON in alternating rounds, no pipes: the formatting
// alone, in ns per line, and JSON's throughput as a fraction of text's.
func BenchmarkFormatJSONvsText(b *testing.B) {
	data := payload(546)
	s := Stream{Process: "web", Worker: 1, PID: 1000, Stream: "stdout"}
	wt := New(io.Discard, Options{}).Writer(s)
	wj := New(io.Discard, Options{JSON: true}).Writer(s)
	var text, json time.Duration
	for b.Loop() {
		t0 := time.Now()
		for range 20 {
			wt.Write(data)
		}
		t1 := time.Now()
		for range 20 {
			wj.Write(data)
		}
		text += t1.Sub(t0)
		json += time.Since(t1)
	}
	lines := float64(b.N * 20 * 546)
	b.ReportMetric(float64(text)/lines, "text-ns/line")
	b.ReportMetric(float64(json)/lines, "json-ns/line")
	b.ReportMetric(float64(text)/float64(json), "json-x-of-text")
}
