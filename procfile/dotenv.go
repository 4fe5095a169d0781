package procfile

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// ParseDotenv reads a dotenv file as the dotenv tools do: KEY=value lines,
// an optional "export " prefix, # comments, 'single quotes' (literal),
// "double quotes" (escapes \n \t \r \" \\ \$, may span lines), and $VAR,
// ${VAR}, ${VAR:-default} and ${VAR-default} (defaults may nest) expanded in
// unquoted and double-quoted values from the keys defined above and then
// lookup (the loader's: the env merged before this file; see expand.go).
// Nothing is ever executed: $(...) and backticks stay as they are. A value
// exec could not pass (a NUL byte, a KEY=value over ArgStrMax) is an error.
// name is used in errors ("name:LINE: ...").
func ParseDotenv(r io.Reader, name string, lookup func(string) (string, bool)) ([][2]string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	lines, err := parseDotenv(string(b), name, lookup)
	if err != nil {
		return nil, err
	}
	out := make([][2]string, len(lines))
	for i, d := range lines {
		out[i] = [2]string{d.key, d.value}
	}
	return out, nil
}

// dotenvLine is one variable of a dotenv file and the line it starts on.
type dotenvLine struct {
	key, value string
	line       int
}

func parseDotenv(text, name string, lookup func(string) (string, bool)) ([]dotenvLine, error) {
	src := strings.ReplaceAll(strings.TrimPrefix(text, "\ufeff"), "\r\n", "\n")
	var out []dotenvLine
	vars := map[string]string{}
	get := func(k string) (string, bool) {
		if v, ok := vars[k]; ok {
			return v, true
		}
		if lookup != nil {
			return lookup(k)
		}
		return "", false
	}
	unquoted := &expander{get: get, unescape: func(c byte) (string, bool) {
		if c == '$' {
			return "$", true
		}
		return "", false
	}}
	quoted := &expander{get: get, unescape: unescapeDouble}
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
		if rest, ok := strings.CutPrefix(t, "export"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
			t = strings.TrimLeft(rest, " \t") // export KEY=v, with a space or a tab
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
			// The value ends at the first unescaped quote; escapes and
			// expansions are then read inside it.
			i := valStart + 1
			for i < len(src) && src[i] != '"' {
				if src[i] == '\\' {
					i++
				}
				i++
			}
			if i >= len(src) {
				return nil, fmt.Errorf("%s:%d: %s: unterminated double-quoted value", name, startLine, key)
			}
			v, err := quoted.text(src[valStart+1 : i])
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %s: %v", name, startLine, key, err)
			}
			value = v
			i++
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
			v, err := unquoted.text(strings.TrimSpace(raw))
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %s: %v", name, startLine, key, err)
			}
			value = v
			src, line = advance(src, nl, line)
		}
		if err := checkEnvValue(key, value); err != nil {
			return nil, fmt.Errorf("%s:%d: %s: %v", name, startLine, key, err)
		}
		vars[key] = value
		out = append(out, dotenvLine{key, value, startLine})
	}
	return out, nil
}

// unescapeDouble is what a backslash means inside "double quotes".
func unescapeDouble(c byte) (string, bool) {
	switch c {
	case 'n':
		return "\n", true
	case 't':
		return "\t", true
	case 'r':
		return "\r", true
	case '"', '\\', '$', '`':
		return string(c), true
	}
	return "", false
}

// checkEnvValue rejects a value that exec could not pass: one with a NUL
// byte, or a KEY=value string longer than ArgStrMax.
func checkEnvValue(key, value string) error {
	if strings.IndexByte(value, 0) >= 0 {
		return errors.New("the value contains a NUL byte, which an environment cannot hold")
	}
	if n := len(key) + 1 + len(value) + 1; n > ArgStrMax {
		return fmt.Errorf("%s is over the %s limit of one environment variable (ArgStrMax)", formatSize(int64(n)), formatSize(ArgStrMax))
	}
	return nil
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
