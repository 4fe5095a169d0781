package procfile

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// checkGlob reports what makes a watch or watch_ignore glob one that the
// watch package would never match as meant. It mirrors that package's syntax
// (watch/match.go; procfile may not import it): per '/'-separated segment,
// '*', '?', '\' quoting the next character, and classes "[abc]", "[a-z]",
// "[!a-z]", "[^a-z]" (a ']' first in a class is a member); a segment "**"
// matches any number of segments; a leading "./" or "/" is dropped (the
// loader has already made an absolute glob relative to dir). Where the
// watcher falls back to matching literally (an unclosed class, a trailing
// lone '\') or can never match (an empty glob, an empty, "." or ".."
// segment: watched paths are clean and below dir), this is an error instead
// of a silent no-op. Everything else the watcher accepts is accepted.
func checkGlob(pattern string) error {
	p := pattern
	for strings.HasPrefix(p, "./") {
		p = p[2:]
	}
	p = strings.TrimRight(strings.TrimLeft(p, "/"), "/")
	if p == "" || p == "." {
		return fmt.Errorf("%q: an empty glob matches nothing", pattern)
	}
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "**":
			continue
		case "":
			return fmt.Errorf("%q: empty path segment (\"//\") matches nothing", pattern)
		case ".", "..":
			return fmt.Errorf("%q: a %q segment matches nothing: globs are relative to dir, and only what is below it is watched", pattern, seg)
		}
		for i := 0; i < len(seg); {
			switch seg[i] {
			case '\\':
				if i+1 == len(seg) {
					return fmt.Errorf("%q: a trailing \\ quotes nothing (write \\\\ for a backslash)", pattern)
				}
				i += 2
			case '[':
				n := classLen(seg[i:])
				if n == 0 {
					return fmt.Errorf("%q: unclosed character class in %q (write \\[ for a literal [)", pattern, seg)
				}
				i += n
			default:
				i++
			}
		}
	}
	return nil
}

// classLen is the length of the well-formed class at the start of p ("[...]"),
// 0 when it has no closing ']', as watch's matchClass decides it.
func classLen(p string) int {
	i := 1
	if i < len(p) && (p[i] == '!' || p[i] == '^') {
		i++
	}
	first := true
	for i < len(p) {
		if p[i] == ']' && !first {
			return i + 1
		}
		first = false
		w := classCharLen(p[i:])
		if w == 0 {
			return 0
		}
		i += w
		if i+1 < len(p) && p[i] == '-' && p[i+1] != ']' {
			w = classCharLen(p[i+1:])
			if w == 0 {
				return 0
			}
			i += 1 + w
		}
	}
	return 0
}

// classCharLen is the length of one possibly escaped class character.
func classCharLen(p string) int {
	if p[0] == '\\' {
		if len(p) < 2 {
			return 0
		}
		_, w := utf8.DecodeRuneInString(p[1:])
		return w + 1
	}
	_, w := utf8.DecodeRuneInString(p)
	return w
}
