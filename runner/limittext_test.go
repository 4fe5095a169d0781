package runner

import "testing"

// TestLimitText: a max_memory reads in the largest unit it is a whole
// number of, else in bytes, one of them "1 byte".
func TestLimitText(t *testing.T) {
	for limit, want := range map[int64]string{
		1: "1 byte", 2: "2 bytes", 1000: "1 KB", 1023: "1023 bytes", 1024: "1 KiB",
		256 << 20: "256 MiB", 512e6: "512 MB", 2 << 30: "2 GiB",
	} {
		if got := LimitText(limit); got != want {
			t.Errorf("LimitText(%d) = %q, want %q", limit, got, want)
		}
	}
}
