package runner

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// A max_memory message never reads the use as equal to or below the limit
// it is above: "web.1 uses 1 MiB, above max_memory 1 MiB" was 1.6 MiB.
func TestSizesText(t *testing.T) {
	const KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
	for _, c := range []struct {
		use, limit int64
		want       string
	}{
		{1677722, MiB, "1.6 MiB > 1 MiB"},
		{MiB + 24, MiB, "1.00002 MiB > 1 MiB"},
		{200 * MiB, 100 * MiB, "200.0 MiB > 100 MiB"},
		{300*KiB + 100, 256 * KiB, "300 KiB > 256 KiB"},
		{262500, 256 * KiB, "256.3 KiB > 256 KiB"},
		{5 * GiB / 2, 512 * MiB, "2.5 GiB > 512 MiB"},
		{1677722, 256 * KiB, "1.6 MiB > 256 KiB"},
		{600e6, 512e6, "572.2 MiB > 512 MB"},
		{1e6 + 1, 1e6, "977 KiB > 1 MB"},
		{1000, 999, "1 KiB > 999 bytes"},
		{GiB + 1, GiB, "1.000000001 GiB > 1 GiB"},
		{MiB + 5*KiB, 1000 * KiB, "1.0 MiB > 1000 KiB"},
	} {
		use, limit := sizesText(c.use, c.limit)
		if got := use + " > " + limit; got != c.want {
			t.Errorf("sizesText(%d, %d) = %s, want %s", c.use, c.limit, got, c.want)
		}
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		limit := rnd.Int64N(4 * GiB)
		use := limit + 1 + rnd.Int64N([]int64{16, KiB, MiB}[rnd.IntN(3)])
		us, ls := sizesText(use, limit)
		if bytesOf(t, us) <= bytesOf(t, ls) {
			t.Fatalf("sizesText(%d, %d) = %s, %s: the use does not read above the limit", use, limit, us, ls)
		}
	}
}

func bytesOf(t *testing.T, s string) float64 {
	num, unit, _ := strings.Cut(s, " ")
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return f * map[string]float64{"bytes": 1, "KB": 1e3, "KiB": 1 << 10, "MB": 1e6, "MiB": 1 << 20, "GB": 1e9, "GiB": 1 << 30}[unit]
}
