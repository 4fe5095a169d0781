package logmux

import (
	"bytes"
	"io"
	"strconv"
)

// LostError is what Close returns when lines were lost and the output never
// took the report: Lines in all, Err the last write error.
type LostError struct {
	Lines int64
	Err   error
}

func (e *LostError) Error() string { return lostText(e.Lines, e.Err) }
func (e *LostError) Unwrap() error { return e.Err }

// lostText is "1 line lost: ERR" or "N lines lost: ERR".
func lostText(lines int64, err error) string {
	s := strconv.FormatInt(lines, 10) + " lines lost"
	if lines == 1 {
		s = "1 line lost"
	}
	return s + ": " + err.Error()
}

// fail counts the lines of b from byte n on as lost (a line cut at n is lost
// too); mu must be held. The first failure of a streak leaves a notice for
// Errors.
func (m *Mux) fail(b []byte, n int, err error) {
	if n < 0 || n > len(b) {
		n = 0
	}
	lines := int64(bytes.Count(b[n:], []byte{'\n'}))
	if lines == 0 { // b is whole lines: all of it was written after all
		return
	}
	m.lost += lines
	m.lostErr = err
	if n > 0 && b[n-1] != '\n' {
		m.torn = true
	}
	if !m.failing {
		m.failing = true
		m.notice = "cluster: output failed (" + err.Error() + "): discarding log lines until it works again\n"
	}
}

// report writes the runner line that says how many lines were lost, ending
// the line a failed write may have cut first; mu must be held. It reports
// whether the output took it.
func (m *Mux) report() bool {
	var b []byte
	if m.torn {
		b = append(b, '\n')
	}
	if m.lost > 0 { // else Close told Errors the count: only the cut line is left to end
		msg := lostText(m.lost, m.lostErr)
		b = m.appendEvent(b, Event{Event: "lost", Message: msg,
			Fields: map[string]any{"lines": m.lost, "error": m.lostErr.Error()}})
	}
	n, err := m.w.Write(b)
	if err != nil {
		m.lostErr = err
		if n > 0 && b[n-1] != '\n' {
			m.torn = true
		} else if n > 0 {
			m.torn = false
		}
		return false
	}
	m.lost, m.lostErr, m.torn, m.failing = 0, nil, false, false
	return true
}

// unlock releases mu, then writes a pending notice to Errors: a stuck
// stderr must not hold up the output lock.
func (m *Mux) unlock() {
	notice := m.notice
	m.notice = ""
	m.mu.Unlock()
	if notice != "" {
		m.tell(notice)
	}
}

func (m *Mux) tell(s string) {
	if m.opts.Errors == nil {
		return
	}
	m.errMu.Lock()
	io.WriteString(m.opts.Errors, s)
	m.errMu.Unlock()
}

// Lost returns the lines lost since the last report and the last write
// error (0, nil when none).
func (m *Mux) Lost() (lines int64, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lost, m.lostErr
}

// Close reports lines still unreported: once more to the output, and if that
// fails to Errors as "cluster: N lines lost: ERR". It returns a *LostError
// when lines were lost whose loss never reached the output, and nil
// otherwise. Close may be called more than once; each call reports only
// what is new, and the error stays. The Mux remains usable after Close
// (every Writer flushes on its own Close; there is no goroutine to stop).
func (m *Mux) Close() error {
	m.mu.Lock()
	var msg string
	if m.lost > 0 && !m.report() {
		msg = "cluster: " + lostText(m.lost, m.lostErr) + "\n"
		m.dropped += m.lost
		m.dropErr = m.lostErr
		m.lost, m.lostErr = 0, nil // reported, to Errors; the streak goes on
	}
	var err error
	if m.dropped > 0 {
		err = &LostError{Lines: m.dropped, Err: m.dropErr}
	}
	m.unlock()
	if msg != "" {
		m.tell(msg)
	}
	return err
}
