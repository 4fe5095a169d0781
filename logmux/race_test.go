//go:build race

package logmux

// The race detector makes sync.Pool drop buffers at random.
func init() { raceEnabled = true }
