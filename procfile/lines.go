package procfile

import "strings"

// keyLines maps every dotted key of a TOML document to the line where it is
// defined (tables to their header line, and the parents of a table or of a
// dotted key to the first line that defines them), so that every error, not
// only the first one the decoder meets, can name its line. It understands
// headers, dotted and quoted keys, and inline tables (their keys map to the
// line of the table's key); it follows strings of every kind (escapes in
// basic ones) and open brackets across lines, so that nothing inside a value
// is taken for a key, wherever a multi-line value opens.
func keyLines(src string) map[string]int {
	lines := map[string]int{}
	define := func(key string, n int) {
		for k := key; ; k = k[:strings.LastIndexByte(k, '.')] {
			if _, ok := lines[k]; !ok {
				lines[k] = n
			}
			if !strings.Contains(k, ".") {
				return
			}
		}
	}
	table := ""
	var v valueScan
	for i, raw := range strings.Split(src, "\n") {
		n := i + 1
		if v.open() {
			v.scan(raw)
			continue
		}
		t := strings.TrimSpace(raw)
		if strings.HasPrefix(t, "[") {
			if h, ok := header(t); ok {
				table = normKey(h)
				define(table, n) // [a.b] defines a too
			}
			continue
		}
		eq := keyEnd(t)
		if eq < 0 {
			continue
		}
		full := normKey(t[:eq])
		if table != "" {
			full = table + "." + full
		}
		define(full, n) // a.b = 1 defines a too
		v.scan(t[eq+1:])
	}
	return lines
}

// header returns the key of a [table] or [[array]] header line.
func header(t string) (string, bool) {
	t = strings.TrimPrefix(t[1:], "[")
	end := -1
	outsideStrings(t, true, func(i int, c byte) bool {
		if c == ']' {
			end = i
			return false
		}
		return true
	})
	if end < 0 {
		return "", false
	}
	return t[:end], true
}

// valueScan follows a TOML value across lines: the delimiter of the string
// it is inside (one or three double or single quotes; "" outside) and how
// many [ and { are open outside strings.
type valueScan struct {
	quote string
	depth int
}

// open reports whether the next line continues the value.
func (v *valueScan) open() bool { return v.quote != "" || v.depth > 0 }

// scan reads one line of the value.
func (v *valueScan) scan(s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch v.quote {
		case "":
			switch {
			case strings.HasPrefix(s[i:], `"""`), strings.HasPrefix(s[i:], `'''`):
				v.quote = s[i : i+3]
				i += 2
			case c == '"' || c == '\'':
				v.quote = string(c)
			case c == '#':
				return // a comment
			case c == '[' || c == '{':
				v.depth++
			case (c == ']' || c == '}') && v.depth > 0:
				v.depth--
			}
		case `"`, `'`:
			if c == '\\' && v.quote == `"` {
				i++
			} else if c == v.quote[0] {
				v.quote = ""
			}
		default: // """ or '''
			if c == '\\' && v.quote == `"""` {
				i++ // an escaped character, or the backslash that ends a line
			} else if strings.HasPrefix(s[i:], v.quote) {
				// Up to two more quotes are content before the closing three.
				j := i + 3
				for j < len(s) && j < i+5 && s[j] == v.quote[0] {
					j++
				}
				i = j - 1
				v.quote = ""
			}
		}
	}
	if len(v.quote) == 1 {
		v.quote = "" // a one-line string ends with its line (TOML rejected it otherwise)
	}
}

// keyEnd finds the '=' that ends a key, outside quotes; -1 if none.
func keyEnd(t string) int {
	end := -1
	outsideStrings(t, false, func(i int, c byte) bool {
		if c == '=' {
			end = i
			return false
		}
		return c == '_' || c == '-' || c == '.' || c == ' ' || c == '\t' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
	})
	return end
}

// normKey turns `process . "web" ` into process.web.
func normKey(k string) string {
	var parts []string
	for _, p := range splitDotted(k) {
		p = strings.TrimSpace(p)
		if len(p) >= 2 && (p[0] == '"' && p[len(p)-1] == '"' || p[0] == '\'' && p[len(p)-1] == '\'') {
			p = p[1 : len(p)-1]
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ".")
}

func splitDotted(k string) []string {
	var parts []string
	start := 0
	outsideStrings(k, false, func(i int, c byte) bool {
		if c == '.' {
			parts = append(parts, k[start:i])
			start = i + 1
		}
		return true
	})
	return append(parts, k[start:])
}

// outsideStrings calls f for each byte of a TOML line that is not inside a
// '...' or "..." string (nor a quote itself), until f returns false. With
// escapes false a backslash in "..." escapes nothing (keys are scanned so).
func outsideStrings(s string, escapes bool, f func(i int, c byte) bool) {
	quote := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if escapes && c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		default:
			if !f(i, c) {
				return
			}
		}
	}
}
