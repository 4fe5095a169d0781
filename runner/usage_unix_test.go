//go:build unix && (!linux || portable)

package runner

import "testing"

// ps's time column as procps (Linux), macOS and FreeBSD print it.
func TestParseCPUTime(t *testing.T) {
	for _, c := range []struct {
		in    string
		ticks uint64
		ok    bool
	}{
		{"00:00:00", 0, true},
		{"00:01:03", 6300, true},           // procps: whole seconds
		{"1-02:03:04", 9378400, true},      // procps, past a day
		{"0:00.03", 3, true},               // macOS, FreeBSD: hundredths
		{"12:34.56", 75456, true},          // minutes past the hour
		{"1234:56.78", 7409678, true},      // minutes do not roll over into hours
		{"TIME", 0, false}, {"", 0, false}, // a header, nothing
		{"-1:00", 0, false},
	} {
		ticks, ok := parseCPUTime(c.in)
		if ticks != c.ticks || ok != c.ok {
			t.Errorf("parseCPUTime(%q) = %d, %v; want %d, %v", c.in, ticks, ok, c.ticks, c.ok)
		}
	}
}
