package procfile

import (
	"fmt"
	"io"
	"strings"
)

// ParseDotenv reads a dotenv file as the dotenv tools do: KEY=value lines,
// an optional "export " prefix, # comments, 'single quotes' (literal),
// "double quotes" (escapes \n \t \r \" \\ \$, may span lines), and $VAR /
// ${VAR} expanded in unquoted and double-quoted values from the keys defined
// above and then lookup. Nothing is ever executed: $(...) and backticks stay
// as they are. name is used in errors ("name:LINE: ...").
func ParseDotenv(r io.Reader, name string, lookup func(string) (string, bool)) ([][2]string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	src := strings.ReplaceAll(string(b), "\r\n", "\n")
	var out [][2]string
	vars := map[string]string{}
	get := func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		if lookup != nil {
			v, _ := lookup(k)
			return v
		}
		return ""
	}
	line := 1
	for len(src) > 0 {
		nl := strings.IndexByte(src, '\n')
		cur := src
		if nl >= 0 {
			cur = src[:nl]
		}
		startLine := line
		t := strings.TrimSpace(cur)
		if t == "" || t[0] == '#' {
			src, line = advance(src, nl, line)
			continue
		}
		t = strings.TrimLeft(cur, " \t")
		if rest, ok := strings.CutPrefix(t, "export "); ok {
			t = strings.TrimLeft(rest, " \t")
		}
		eq := strings.IndexByte(t, '=')
		if eq <= 0 {
			return nil, fmt.Errorf("%s:%d: want KEY=value, got %q", name, startLine, strings.TrimSpace(cur))
		}
		key := strings.TrimSpace(t[:eq])
		if !validEnvKey(key) {
			return nil, fmt.Errorf("%s:%d: %q is not a valid variable name", name, startLine, key)
		}
		val := strings.TrimLeft(t[eq+1:], " \t")
		// val is a suffix of the current line: quoted values are read from
		// there, across lines when they span several.
		valStart := len(cur) - len(val)
		var value string
		switch {
		case strings.HasPrefix(val, "'"):
			end := strings.IndexByte(src[valStart+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("%s:%d: %s: unterminated single-quoted value", name, startLine, key)
			}
			value = src[valStart+1 : valStart+1+end]
			consumed := valStart + 1 + end + 1
			line += strings.Count(src[:consumed], "\n")
			src = src[consumed:]
			if err := restOfLine(&src, &line); err != nil {
				return nil, fmt.Errorf("%s:%d: %s: %v", name, startLine, key, err)
			}
		case strings.HasPrefix(val, `"`):
			var sb strings.Builder
			i := valStart + 1
			closed := false
			for i < len(src) {
				c := src[i]
				if c == '\\' && i+1 < len(src) {
					switch src[i+1] {
					case 'n':
						sb.WriteByte('\n')
					case 't':
						sb.WriteByte('\t')
					case 'r':
						sb.WriteByte('\r')
					case '"', '\\', '$', '`':
						sb.WriteByte(src[i+1])
					default:
						sb.WriteByte('\\')
						sb.WriteByte(src[i+1])
					}
					i += 2
					continue
				}
				if c == '"' {
					closed = true
					i++
					break
				}
				if c == '$' {
					v, n := expandAt(src[i:], get)
					if n > 0 {
						sb.WriteString(v)
						i += n
						continue
					}
				}
				sb.WriteByte(c)
				i++
			}
			if !closed {
				return nil, fmt.Errorf("%s:%d: %s: unterminated double-quoted value", name, startLine, key)
			}
			value = sb.String()
			line += strings.Count(src[:i], "\n")
			src = src[i:]
			if err := restOfLine(&src, &line); err != nil {
				return nil, fmt.Errorf("%s:%d: %s: %v", name, startLine, key, err)
			}
		default:
			raw := val
			if i := strings.Index(raw, " #"); i >= 0 {
				raw = raw[:i]
			}
			if i := strings.Index(raw, "\t#"); i >= 0 {
				raw = raw[:i]
			}
			raw = strings.TrimSpace(raw)
			value = expandAll(raw, get)
			src, line = advance(src, nl, line)
		}
		vars[key] = value
		out = append(out, [2]string{key, value})
	}
	return out, nil
}

func advance(src string, nl, line int) (string, int) {
	if nl < 0 {
		return "", line
	}
	return src[nl+1:], line + 1
}

// restOfLine allows only spaces and a comment after a closing quote.
func restOfLine(src *string, line *int) error {
	nl := strings.IndexByte(*src, '\n')
	rest := *src
	if nl >= 0 {
		rest = (*src)[:nl]
	}
	if t := strings.TrimSpace(rest); t != "" && t[0] != '#' {
		return fmt.Errorf("unexpected %q after the closing quote", t)
	}
	if nl < 0 {
		*src = ""
		return nil
	}
	*src = (*src)[nl+1:]
	*line++
	return nil
}

func validEnvKey(k string) bool {
	if k == "" {
		return false
	}
	for i, c := range k {
		if c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && (c >= '0' && c <= '9' || c == '.' || c == '-') {
			continue
		}
		return false
	}
	return true
}

// expandAt expands $NAME or ${NAME} at the start of s; n is how many bytes
// it consumed (0: not an expansion, the '$' is literal).
func expandAt(s string, get func(string) string) (string, int) {
	if len(s) < 2 {
		return "", 0
	}
	if s[1] == '{' {
		end := strings.IndexByte(s, '}')
		if end < 0 {
			return "", 0
		}
		name := s[2:end]
		if def, ok := cutDefault(name); ok {
			if v := get(def[0]); v != "" {
				return v, end + 1
			}
			return def[1], end + 1
		}
		if !validName(name) {
			return "", 0
		}
		return get(name), end + 1
	}
	i := 1
	for i < len(s) && (s[i] == '_' || s[i] >= 'A' && s[i] <= 'Z' || s[i] >= 'a' && s[i] <= 'z' || i > 1 && s[i] >= '0' && s[i] <= '9') {
		i++
	}
	if i == 1 {
		return "", 0
	}
	return get(s[1:i]), i
}

func cutDefault(name string) ([2]string, bool) {
	k, d, ok := strings.Cut(name, ":-")
	if !ok || !validName(k) {
		return [2]string{}, false
	}
	return [2]string{k, d}, true
}

func validName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func expandAll(s string, get func(string) string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); {
		if s[i] == '\\' && i+1 < len(s) && s[i+1] == '$' {
			sb.WriteByte('$')
			i += 2
			continue
		}
		if s[i] == '$' {
			if v, n := expandAt(s[i:], get); n > 0 {
				sb.WriteString(v)
				i += n
				continue
			}
		}
		sb.WriteByte(s[i])
		i++
	}
	return sb.String()
}
