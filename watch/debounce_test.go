package watch

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

// startDebounce runs debounce inside the current synctest bubble.
func startDebounce(t *testing.T, quiet, maxWait time.Duration) (chan<- change, <-chan Batch) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	in := make(chan change)
	out := make(chan Batch)
	done := make(chan struct{})
	go func() {
		defer close(done)
		debounce(ctx, in, out, quiet, maxWait)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return in, out
}

// pending returns the batch that is ready now, if any, once every goroutine
// in the bubble is blocked.
func pending(out <-chan Batch) (Batch, bool) {
	synctest.Wait()
	select {
	case b := <-out:
		return b, true
	default:
		return Batch{}, false
	}
}

func TestDebounceQuiet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in, out := startDebounce(t, 100*time.Millisecond, time.Second)
		start := time.Now()
		in <- change{paths: []string{"b", "a"}}
		time.Sleep(60 * time.Millisecond)
		in <- change{paths: []string{"a", "c"}}
		time.Sleep(99 * time.Millisecond)
		if b, ok := pending(out); ok {
			t.Fatalf("batch %v sent before 100ms of quiet", b)
		}
		b := <-out
		if got := time.Since(start); got != 160*time.Millisecond {
			t.Errorf("batch after %v, want 160ms (100ms after the last change)", got)
		}
		if want := []string{"a", "b", "c"}; !slices.Equal(b.Paths, want) || b.Rescan {
			t.Errorf("batch = %+v, want paths %v", b, want)
		}
		if b, ok := pending(out); ok {
			t.Errorf("second batch %v with nothing new", b)
		}
	})
}

// A stream that never pauses for the quiet period still produces a batch
// every MaxWait.
func TestDebounceMaxWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in, out := startDebounce(t, 100*time.Millisecond, time.Second)
		start := time.Now()
		var got []time.Duration
		stop := time.After(3500 * time.Millisecond)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				in <- change{paths: []string{"f"}}
				continue
			case <-out:
				got = append(got, time.Since(start))
				continue
			case <-stop:
			}
			break
		}
		want := []time.Duration{1050 * time.Millisecond, 2100 * time.Millisecond, 3150 * time.Millisecond}
		if !slices.Equal(got, want) {
			t.Errorf("batches at %v, want %v", got, want)
		}
	})
}

func TestDebounceFlushAndRescan(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in, out := startDebounce(t, 100*time.Millisecond, time.Second)
		in <- change{paths: []string{"x"}}
		time.Sleep(10 * time.Millisecond)
		in <- change{paths: []string{"y"}, rescan: true, flush: true}
		b, ok := pending(out)
		if !ok {
			t.Fatal("a flushed change did not go out at once")
		}
		if !slices.Equal(b.Paths, []string{"x", "y"}) || !b.Rescan {
			t.Errorf("batch = %+v, want x and y with Rescan", b)
		}
		// An empty rescan is still a batch: events were lost.
		in <- change{rescan: true, flush: true}
		if b, ok := pending(out); !ok || !b.Rescan || len(b.Paths) != 0 {
			t.Errorf("empty rescan gave %+v, %v", b, ok)
		}
		// An empty change is nothing.
		in <- change{flush: true}
		if b, ok := pending(out); ok {
			t.Errorf("empty change gave batch %+v", b)
		}
	})
}

// A due batch the consumer has not taken yet absorbs later changes instead
// of blocking the sender.
func TestDebounceSlowConsumer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in, out := startDebounce(t, 100*time.Millisecond, time.Second)
		in <- change{paths: []string{"a"}}
		time.Sleep(time.Second)
		in <- change{paths: []string{"b"}}
		in <- change{paths: []string{"c"}}
		b := <-out
		if !slices.Equal(b.Paths, []string{"a", "b", "c"}) {
			t.Errorf("batch = %v, want [a b c]", b.Paths)
		}
		if b, ok := pending(out); ok {
			t.Errorf("extra batch %v", b)
		}
	})
}

// Closing in sends what is pending at once, then debounce returns: a
// watcher that is replaced hands its last changes on instead of dropping them.
func TestDebounceClosedSendsPending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in := make(chan change)
		out := make(chan Batch)
		done := make(chan struct{})
		go func() {
			defer close(done)
			debounce(t.Context(), in, out, time.Hour, time.Hour)
		}()
		in <- change{paths: []string{"b", "a"}}
		close(in)
		b := <-out
		if want := []string{"a", "b"}; !slices.Equal(b.Paths, want) {
			t.Errorf("batch = %+v, want paths %v", b, want)
		}
		<-done
	})
}

// A path created while its batch is pending and removed before the batch
// is sent (sed -i's or gedit's temp file) is withdrawn; the rest of the
// batch goes out, and a batch left empty is not sent at all.
func TestDebounceWithdrawsShortLived(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in, out := startDebounce(t, 100*time.Millisecond, time.Second)
		in <- change{paths: []string{"src/sedAb12", "src/y.js"}, kinds: []kind{created, modified}}
		time.Sleep(20 * time.Millisecond)
		in <- change{paths: []string{"src/sedAb12", "src/z.js", "src/old.js"}, kinds: []kind{removed, modified, removed}}
		b := <-out
		if want := []string{"src/old.js", "src/y.js", "src/z.js"}; !slices.Equal(b.Paths, want) {
			t.Errorf("batch = %v, want %v (temp file withdrawn, the real deletion kept)", b.Paths, want)
		}

		// echo x > tmp; sleep 0.02; rm tmp: nothing to send.
		in <- change{paths: []string{"tmp"}, kinds: []kind{created}}
		time.Sleep(20 * time.Millisecond)
		in <- change{paths: []string{"tmp"}, kinds: []kind{removed}}
		time.Sleep(5 * time.Second)
		if b, ok := pending(out); ok {
			t.Fatalf("batch %+v for a file that came and went", b)
		}

		// Withdrawn from a batch that is due but not taken yet.
		in <- change{paths: []string{"a"}}
		time.Sleep(200 * time.Millisecond) // due now; nobody reads out
		in <- change{paths: []string{"tmp2"}, kinds: []kind{created}}
		in <- change{paths: []string{"tmp2"}, kinds: []kind{removed}}
		if b, ok := pending(out); !ok || !slices.Equal(b.Paths, []string{"a"}) {
			t.Errorf("due batch = %+v, %v; want [a]", b, ok)
		}

		// Once delivered, a file's creation stands: its removal counts.
		in <- change{paths: []string{"new"}, kinds: []kind{created}}
		if b := <-out; !slices.Equal(b.Paths, []string{"new"}) {
			t.Errorf("batch = %v, want [new]", b.Paths)
		}
		in <- change{paths: []string{"new"}, kinds: []kind{removed}}
		if b := <-out; !slices.Equal(b.Paths, []string{"new"}) {
			t.Errorf("batch = %v, want [new] (removed)", b.Paths)
		}

		// A file that was there, removed and made again, then removed:
		// a real deletion, not withdrawn.
		in <- change{paths: []string{"f"}, kinds: []kind{removed}}
		in <- change{paths: []string{"f"}, kinds: []kind{created}}
		in <- change{paths: []string{"f"}, kinds: []kind{removed}}
		if b := <-out; !slices.Equal(b.Paths, []string{"f"}) {
			t.Errorf("batch = %v, want [f]", b.Paths)
		}
	})
}
