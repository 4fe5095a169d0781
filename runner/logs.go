package runner

import (
	"errors"
	"io"
	"slices"
	"strconv"
	"time"
)

// logReadBatch is the most lines a feed reads from one ring at a time, so a
// ring's lock is held briefly however far behind the reader is.
const logReadBatch = 256

// ErrLogsStopped: the reader of a LogFeed went away.
var ErrLogsStopped = errors.New("stopped")

// LogFeed reads the kept lines of some workers (`cluster logs`) and, when
// following, the lines they print from then on. Writers never wait for it:
// a feed that falls more than a ring behind gets a marker (LogLine.Skipped)
// where lines went missing.
type LogFeed struct {
	Labels    []string // every worker of the cluster ("web.1"), for the prefix column's width
	Processes []string // every process type the cluster has had, in the order of their colours (Runner.colorOrder): for colors as run gives them

	r      *Runner
	srcs   []*logSource
	wake   chan struct{} // filled (without waiting) by every ring followed
	follow bool
}

type logSource struct {
	ring   *logRing
	filter lineFilter
	next   uint64
}

// OpenLogs selects the workers of targets ("web", "web.2"; none: every
// type). With follow, the feed is woken by every new line; Close it.
func (r *Runner) OpenLogs(targets []string, follow bool) (*LogFeed, error) {
	f := &LogFeed{r: r, wake: make(chan struct{}, 1), follow: follow}
	var err error
	aerr := r.ask(func() {
		type pick struct {
			all     bool
			workers lineFilter
		}
		picks := map[*ptype]*pick{}
		var order []*ptype
		for _, target := range targets {
			t, idx, perr := r.parseLogTarget(target)
			if perr != nil {
				err = perr
				return
			}
			p := picks[t]
			if p == nil {
				p = &pick{workers: lineFilter{}}
				picks[t] = p
				order = append(order, t)
			}
			if idx == 0 {
				p.all = true
			} else {
				p.workers[idx] = true
			}
		}
		if len(targets) == 0 {
			order = r.types
		}
		f.Processes = slices.Clone(r.colorOrder)
		for _, t := range r.types {
			for i := 1; i <= t.count; i++ {
				f.Labels = append(f.Labels, t.p.Name+"."+strconv.Itoa(i))
			}
		}
		for _, t := range order {
			s := &logSource{ring: t.ring()}
			if p := picks[t]; p != nil && !p.all {
				s.filter = p.workers
			}
			f.srcs = append(f.srcs, s)
		}
	})
	if aerr != nil {
		return nil, aerr
	}
	if err != nil {
		return nil, err
	}
	if follow {
		for _, s := range f.srcs {
			s.ring.follow(f.wake)
		}
	}
	return f, nil
}

// Close stops following.
func (f *LogFeed) Close() {
	if f.follow {
		for _, s := range f.srcs {
			s.ring.unfollow(f.wake)
		}
	}
}

// History returns the last n kept lines (n < 0: all of them) of the
// selected workers, oldest first; Next goes on from there.
func (f *LogFeed) History(n int) []LogLine {
	var all []LogLine
	for _, s := range f.srcs {
		lines, next, _ := s.ring.read(s.next, ringLines, s.filter) // all it keeps
		all = append(all, lines...)
		s.next = next
	}
	if len(f.srcs) > 1 {
		slices.SortStableFunc(all, func(a, b LogLine) int { return a.Time.Compare(b.Time) })
	}
	if n >= 0 && len(all) > n {
		all = all[len(all)-n:]
	}
	return all
}

// Next waits for new lines of the selected workers and returns them, with a
// marker where lines were missed. It returns io.EOF once the runner has
// ended and every line is read, ErrLogsStopped when stop is closed.
func (f *LogFeed) Next(stop <-chan struct{}) ([]LogLine, error) {
	for {
		if lines := f.poll(); len(lines) > 0 {
			return lines, nil
		}
		select {
		case <-f.wake:
		case <-stop:
			return nil, ErrLogsStopped
		case <-f.r.finished: // every worker's output is copied: what is left is in the rings
			if lines := f.poll(); len(lines) > 0 {
				return lines, nil
			}
			return nil, io.EOF
		}
	}
}

func (f *LogFeed) poll() []LogLine {
	var out []LogLine
	for _, s := range f.srcs {
		lines, next, skipped := s.ring.read(s.next, logReadBatch, s.filter)
		s.next = next
		if skipped > 0 {
			at := time.Now()
			if len(lines) > 0 {
				at = lines[0].Time
			}
			out = append(out, LogLine{Time: at, Process: s.ring.process, Skipped: skipped})
		}
		out = append(out, lines...)
	}
	if len(f.srcs) > 1 {
		slices.SortStableFunc(out, func(a, b LogLine) int { return a.Time.Compare(b.Time) })
	}
	return out
}
