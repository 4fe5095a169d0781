package logmux

import (
	"encoding/binary"
	"unicode/utf8"
)

// sgrReset ends a line whose colors or styles are still on.
const sgrReset = "\x1b[0m"

// appendTerminal appends line with every control sequence but SGR made
// visible and inert (the rule is in doc.go), and with sgrReset after it when
// an SGR it kept is still in force at its end, so that neither the next line
// (another worker's, the runner's) nor its prefix inherits it. A line of
// printable ASCII and tabs costs one scan and one copy.
func appendTerminal(out, line []byte) []byte {
	i := printableASCII(line)
	if i == len(line) {
		return append(out, line...)
	}
	start := 0    // line[start:i] is clean, not yet copied
	open := false // the last SGR kept set something: the line ends with a reset
	for i < len(line) {
		c := line[i]
		if c >= 0x20 && c < 0x7f || c == '\t' {
			i++
			continue
		}
		size := 1
		switch {
		case c == 0x1b:
			if n := sgrLen(line[i:]); n > 0 {
				open = !resets(line[i : i+n])
				i += n
				continue
			}
			out = append(out, line[start:i]...)
			out = append(out, '^', '[')
		case c < 0x20:
			out = append(out, line[start:i]...)
			out = append(out, '^', c+0x40)
		case c == 0x7f:
			out = append(out, line[start:i]...)
			out = append(out, '^', '?')
		default: // non-ASCII: only C1 controls, raw or UTF-8, are touched
			r, n := utf8.DecodeRune(line[i:])
			if n > 1 && (r < 0x80 || r > 0x9f) || n == 1 && c > 0x9f {
				i += n
				continue
			}
			if n > 1 {
				c = byte(r)
			}
			size = n
			out = append(out, line[start:i]...)
			out = append(out, '^', '[', c-0x40) // the 7-bit form: 0x9b (CSI) is ^[[
		}
		i += size
		start = i
	}
	out = append(out, line[start:]...)
	if open {
		out = append(out, sgrReset...)
	}
	return out
}

// resets reports whether the SGR sequence b only resets: its parameters are
// zeros or empty (ESC[m, ESC[0m, ESC[0;0m). Any other, even one whose last
// parameter is 0, counts as setting something: one reset too many is
// harmless.
func resets(b []byte) bool {
	for _, c := range b[2 : len(b)-1] {
		if c != '0' && c != ';' {
			return false
		}
	}
	return true
}

// sgrLen returns the length of the SGR sequence (ESC [ digits ; : m) that
// b starts with, or 0.
func sgrLen(b []byte) int {
	if len(b) < 3 || b[1] != '[' {
		return 0
	}
	for j := 2; j < len(b); j++ {
		switch c := b[j]; {
		case c == 'm':
			return j + 1
		case c >= '0' && c <= '9' || c == ';' || c == ':':
		default:
			return 0
		}
	}
	return 0
}

// printableASCII returns the length of the run of bytes 0x20-0x7e that b
// starts with, eight bytes at a time.
func printableASCII(b []byte) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		// A high bit is set in: x-0x20 for the lowest byte < 0x20 (a borrow
		// can only come from a byte flagged already), x for bytes >= 0x80,
		// x+1 for 0x7f (a carry only comes from 0xff). Any hit goes bytewise.
		if ((x-0x20*ones)|x|(x+ones))&highs != 0 {
			break
		}
	}
	for i < len(b) && b[i] >= 0x20 && b[i] < 0x7f {
		i++
	}
	return i
}
