package watch

import (
	"context"
	"slices"
	"time"
)

// change is what the walking goroutine hands the debouncer: paths that
// changed, what happened to each (kinds, parallel to paths; nil means every
// one was modified), whether they come from a rescan, and whether they are
// already a complete batch (a poll or a rescan) that must not wait for quiet.
type change struct {
	paths  []string
	kinds  []kind
	rescan bool
	flush  bool
}

// kind is what happened to a changed path, as the snapshot saw it.
type kind uint8

const (
	modified kind = iota // there before and after (or removed and made again)
	created              // not in the snapshot before, in it now
	removed              // in the snapshot before, not in it now
)

// debounce turns a stream of changes into batches on out: a batch is due
// once in has been quiet for quiet, or maxWait after its first path, so a
// never-ending stream still fires. It touches no file system and starts no
// goroutine, which lets testing/synctest drive its timers. A due batch that
// out does not take yet keeps absorbing new paths, so a slow consumer gets
// fewer, larger batches and never blocks the sender. It returns when ctx is
// done, dropping an unsent batch, or when in is closed, once what is
// pending has been sent (at once, without waiting for quiet).
//
// A path created while its batch is pending and removed again before the
// batch is sent (an editor's or sed -i's temp file, renamed over the real
// one) is withdrawn: it never existed as far as the consumer can tell. A
// batch left with nothing is not sent.
func debounce(ctx context.Context, in <-chan change, out chan<- Batch, quiet, maxWait time.Duration) {
	// pending maps each path to whether it was created while pending.
	pending := make(map[string]bool)
	rescan := false
	var first time.Time // zero while nothing is pending
	ready := false
	var due Batch
	dirty := false

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()

	for {
		var send chan<- Batch
		if ready {
			if dirty {
				due = Batch{Paths: make([]string, 0, len(pending)), Rescan: rescan}
				for p := range pending {
					due.Paths = append(due.Paths, p)
				}
				slices.Sort(due.Paths)
				dirty = false
			}
			send = out
		}
		select {
		case <-ctx.Done():
			return
		case c, ok := <-in:
			if !ok {
				if len(pending) > 0 || rescan {
					ready, dirty, in = true, true, nil
					continue
				}
				return
			}
			if len(c.paths) == 0 && !c.rescan {
				continue
			}
			for i, p := range c.paths {
				k := modified
				if c.kinds != nil {
					k = c.kinds[i]
				}
				born, ok := pending[p]
				switch {
				case !ok:
					pending[p] = k == created
				case born && k == removed:
					delete(pending, p) // came and went before delivery
				}
			}
			rescan = rescan || c.rescan
			if len(pending) == 0 && !rescan {
				// Only withdrawals: nothing to send, nothing waits.
				timer.Stop()
				first = time.Time{}
				ready, dirty, due = false, false, Batch{}
				continue
			}
			dirty = true
			if ready {
				continue
			}
			if c.flush {
				timer.Stop()
				ready = true
				continue
			}
			now := time.Now()
			if first.IsZero() {
				first = now
			}
			timer.Reset(min(quiet, first.Add(maxWait).Sub(now)))
		case <-timer.C:
			ready = true
		case send <- due:
			if in == nil {
				return // closed, and what was pending is sent
			}
			clear(pending)
			rescan = false
			first = time.Time{}
			ready = false
			dirty = false
			due = Batch{}
		}
	}
}
