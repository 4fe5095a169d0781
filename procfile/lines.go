package procfile

import "strings"

// keyLines maps every dotted key of a TOML document to the line where it is
// defined (tables to their header line), so that every error, not only the
// first one the decoder meets, can name its line. It understands headers,
// dotted and quoted keys, inline tables (their keys map to the line of the
// table's key) and skips multi-line strings and arrays.
func keyLines(src string) map[string]int {
	lines := map[string]int{}
	table := ""
	inString := "" // `"""` or `'''` while inside a multi-line string
	depth := 0     // open [ of a multi-line array
	for i, raw := range strings.Split(src, "\n") {
		n := i + 1
		s := raw
		if inString != "" {
			j := strings.Index(s, inString)
			if j < 0 {
				continue
			}
			s = s[j+3:]
			inString = ""
		}
		t := strings.TrimSpace(stripComment(s))
		if t == "" {
			continue
		}
		if depth > 0 {
			depth += bracketDepth(t)
			continue
		}
		if strings.HasPrefix(t, "[") {
			h := strings.Trim(t, "[]")
			table = normKey(h)
			// [a.b] defines a too.
			for k := table; ; k = k[:strings.LastIndexByte(k, '.')] {
				if _, ok := lines[k]; !ok {
					lines[k] = n
				}
				if !strings.Contains(k, ".") {
					break
				}
			}
			continue
		}
		eq := keyEnd(t)
		if eq < 0 {
			continue
		}
		key := normKey(t[:eq])
		full := key
		if table != "" {
			full = table + "." + key
		}
		if _, ok := lines[full]; !ok {
			lines[full] = n
		}
		// Parents of a dotted key (a.b = 1 defines a).
		for k := full; strings.Contains(k, "."); {
			k = k[:strings.LastIndexByte(k, '.')]
			if _, ok := lines[k]; !ok {
				lines[k] = n
			}
		}
		val := strings.TrimSpace(t[eq+1:])
		for _, q := range []string{`"""`, `'''`} {
			if strings.HasPrefix(val, q) && strings.Count(val, q) == 1 {
				inString = q
			}
		}
		if strings.HasPrefix(val, "[") {
			depth = bracketDepth(val)
		}
	}
	return lines
}

// keyEnd finds the '=' that ends a key, outside quotes; -1 if none.
func keyEnd(t string) int {
	quote := byte(0)
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '=':
			return i
		case !(c == '_' || c == '-' || c == '.' || c == ' ' || c == '\t' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'):
			return -1
		}
	}
	return -1
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
	quote := byte(0)
	start := 0
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '.':
			parts = append(parts, k[start:i])
			start = i + 1
		}
	}
	return append(parts, k[start:])
}

// bracketDepth is how many more '[' than ']' s has outside strings, so that
// watch = ["[[["] is not taken for the start of a multi-line array.
func bracketDepth(s string) int {
	depth := 0
	outsideStrings(s, func(i int, c byte) bool {
		switch c {
		case '[':
			depth++
		case ']':
			depth--
		}
		return true
	})
	return depth
}

// stripComment removes a # comment that is not inside a string.
func stripComment(s string) string {
	end := len(s)
	outsideStrings(s, func(i int, c byte) bool {
		if c == '#' {
			end = i
			return false
		}
		return true
	})
	return s[:end]
}

// outsideStrings calls f for each byte of a TOML line that is not inside a
// '...' or "..." string (nor a quote itself), until f returns false.
func outsideStrings(s string, f func(i int, c byte) bool) {
	quote := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' && quote == '"' {
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
