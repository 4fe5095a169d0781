package procfile

import (
	"errors"
	"fmt"
	"strings"
)

// Variable expansion, shared by dotenv values and commands, as docker compose
// and the dotenv tools do it:
//
//	$NAME, ${NAME}       the value ("" when unset)
//	${NAME:-default}     default when NAME is unset or empty
//	${NAME-default}      default when NAME is unset
//
// A default may itself contain $NAME and ${...} (nested up to
// maxExpandDepth), and "\}", "\$" and "\\" stand for the character. Any
// other ${...} form (${1}, ${A:?x}, an unterminated ${) is an error, never a
// value the user did not mean. Nothing is ever executed.

// maxExpandDepth bounds nested defaults, so that a hostile input cannot
// recurse without end.
const maxExpandDepth = 16

// expander carries what an expansion needs.
type expander struct {
	// get returns a variable's value and whether it is set.
	get func(name string) (string, bool)
	// unescape says what "\c" stands for in the surrounding text, or
	// ok=false to keep the backslash and c as written.
	unescape func(c byte) (s string, ok bool)
}

var errUnterminated = errors.New("unterminated")

// text expands a whole value: backslashes per e.unescape, $ expansions.
func (e *expander) text(s string) (string, error) {
	if !strings.ContainsAny(s, `$\`) {
		return s, nil
	}
	var sb strings.Builder
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			if u, ok := e.unescape(s[i+1]); ok {
				sb.WriteString(u)
			} else {
				sb.WriteString(s[i : i+2])
			}
			i += 2
		case c == '$' && i+1 < len(s) && s[i+1] == '$':
			sb.WriteByte('$') // $$: a literal $, as in docker compose
			i += 2
		case c == '$':
			n, err := e.dollar(&sb, s[i:], 0)
			if err != nil {
				return "", err
			}
			i += n
		default:
			sb.WriteByte(c)
			i++
		}
	}
	return sb.String(), nil
}

// expandAt expands the $NAME or ${...} at the start of s (s[0] == '$'); n is
// how many bytes it consumed, 0 when the '$' is a literal one ("$", "$1",
// "$-").
func (e *expander) expandAt(s string, depth int) (v string, n int, err error) {
	if len(s) < 2 {
		return "", 0, nil
	}
	if s[1] != '{' {
		i := nameEnd(s, 1)
		if i == 1 {
			return "", 0, nil
		}
		v, _ := e.get(s[1:i])
		return v, i, nil
	}
	if depth >= maxExpandDepth {
		return "", 0, fmt.Errorf("%s: defaults nested more than %d deep", excerpt(s), maxExpandDepth)
	}
	i := nameEnd(s, 2)
	name := s[2:i]
	if i == len(s) {
		return "", 0, fmt.Errorf("unterminated %s: want a closing \"}\"", excerpt(s))
	}
	emptyCounts := false
	switch {
	case name == "":
		return "", 0, fmt.Errorf("bad substitution %s: want ${NAME}, ${NAME:-default} or ${NAME-default}", excerpt(s))
	case s[i] == '}':
		v, _ := e.get(name)
		return v, i + 1, nil
	case strings.HasPrefix(s[i:], ":-"):
		emptyCounts = true
		i += 2
	case s[i] == '-':
		i++
	case s[i] == ':' || s[i] == '?' || s[i] == '+' || s[i] == '=':
		return "", 0, fmt.Errorf("%s: only ${NAME}, ${NAME:-default} and ${NAME-default} are supported", excerpt(s))
	default:
		return "", 0, fmt.Errorf("bad substitution %s: want ${NAME}, ${NAME:-default} or ${NAME-default}", excerpt(s))
	}
	def, end, err := e.word(s[i:], depth+1)
	if errors.Is(err, errUnterminated) {
		return "", 0, fmt.Errorf("unterminated %s: want a closing \"}\"", excerpt(s))
	}
	if err != nil {
		return "", 0, err
	}
	v, set := e.get(name)
	if !set || emptyCounts && v == "" {
		v = def
	}
	return v, i + end + 1, nil
}

// dollar writes to sb the expansion at the start of s (s[0] == '$'), or
// the '$' itself when it is a literal one; n is how many bytes it consumed.
func (e *expander) dollar(sb *strings.Builder, s string, depth int) (n int, err error) {
	v, n, err := e.expandAt(s, depth)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		sb.WriteByte('$')
		n = 1
	}
	sb.WriteString(v)
	return n, nil
}

// word reads a default up to its closing '}', expanding what it holds; end
// is the index of that '}'.
func (e *expander) word(s string, depth int) (v string, end int, err error) {
	var sb strings.Builder
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == '}':
			return sb.String(), i, nil
		case c == '\\' && i+1 < len(s):
			if d := s[i+1]; d == '}' || d == '$' || d == '\\' {
				sb.WriteByte(d)
			} else if u, ok := e.unescape(d); ok {
				sb.WriteString(u)
			} else {
				sb.WriteString(s[i : i+2])
			}
			i += 2
		case c == '$':
			n, err := e.dollar(&sb, s[i:], depth)
			if err != nil {
				return "", 0, err
			}
			i += n
		default:
			sb.WriteByte(c)
			i++
		}
	}
	return "", 0, errUnterminated
}

// nameEnd returns the end of the variable name that starts at s[i]
// (letters, digits after the first, '_'); i when there is none.
func nameEnd(s string, i int) int {
	j := i
	for j < len(s) {
		c := s[j]
		if c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || j > i && c >= '0' && c <= '9' {
			j++
			continue
		}
		break
	}
	return j
}

// excerpt quotes the start of s for an error message.
func excerpt(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 40 {
		return fmt.Sprintf("%q...", s[:40])
	}
	return fmt.Sprintf("%q", s)
}

// lookupIn returns a get func over "KEY=value" pairs (later entries win).
func lookupIn(env []string) func(string) (string, bool) {
	var vars map[string]string
	return func(k string) (string, bool) {
		if vars == nil {
			vars = make(map[string]string, len(env))
			for _, kv := range env {
				k, v, _ := strings.Cut(kv, "=")
				vars[k] = v
			}
		}
		v, ok := vars[k]
		return v, ok
	}
}
