package watch

import (
	"strings"
	"unicode/utf8"
)

// Match reports whether relPath (slash-separated, relative to the watcher's
// root) matches pattern.
//
// Syntax, per path segment: '*' matches any run of characters except '/',
// '?' matches one character except '/', '[abc]', '[a-z]', '[!a-z]' or
// '[^a-z]' match one character from (or not from) a class, and '\' quotes the
// next character. A segment that is exactly "**" matches zero or more whole
// segments, so "src/**/*.go" matches "src/main.go" and "dist/**" matches
// "dist" itself as well as everything below it (which is what lets an ignore
// glob prune the directory). A malformed class is matched literally; Match
// never fails. A leading "./" or "/" on either argument is ignored.
func Match(pattern, relPath string) bool {
	return compileGlob(pattern).match(relPath)
}

// MatchWatch is Match for a watch (Options.Include) glob: one with no
// wildcard names a path, and matches it and everything below it, whether or
// not it exists or is a directory when asked ("lib" is "lib/**", and
// matches lib, lib/a.js and lib/sub/b.js).
func MatchWatch(pattern, relPath string) bool {
	return compileWatch(pattern).match(relPath)
}

// compileWatch compiles a watch glob (see MatchWatch).
func compileWatch(pattern string) glob {
	g := compileGlob(pattern)
	if len(g.segs) > 0 && !strings.ContainsAny(pattern, `*?[\`) {
		g.segs = append(g.segs, "**")
	}
	return g
}

// glob is a pattern split into segments once, so that matching the same
// ignore list against every path of a walk does not re-split it.
type glob struct {
	segs []string
}

func compileGlob(pattern string) glob {
	pattern = cleanRel(pattern)
	if pattern == "" {
		return glob{}
	}
	return glob{segs: strings.Split(pattern, "/")}
}

func (g glob) match(relPath string) bool {
	relPath = cleanRel(relPath)
	var segs []string
	if relPath != "" {
		segs = strings.Split(relPath, "/")
	}
	return matchSegments(g.segs, segs)
}

// cleanRel drops the decorations people write around relative paths
// ("./src", "/src", "src/") so that they compare like the bare path.
func cleanRel(p string) string {
	for strings.HasPrefix(p, "./") {
		p = p[2:]
	}
	p = strings.TrimLeft(p, "/")
	p = strings.TrimRight(p, "/")
	if p == "." {
		return ""
	}
	return p
}

func matchSegments(pats, segs []string) bool {
	for len(pats) > 0 {
		if pats[0] == "**" {
			for len(pats) > 0 && pats[0] == "**" {
				pats = pats[1:]
			}
			if len(pats) == 0 {
				return true
			}
			for i := 0; i <= len(segs); i++ {
				if matchSegments(pats, segs[i:]) {
					return true
				}
			}
			return false
		}
		if len(segs) == 0 || !matchSegment(pats[0], segs[0]) {
			return false
		}
		pats, segs = pats[1:], segs[1:]
	}
	return len(segs) == 0
}

// matchSegment matches one path segment against one pattern segment. It
// backtracks only to the most recent '*', which is enough because a later
// star can absorb anything an earlier one could.
func matchSegment(p, s string) bool {
	px, sx := 0, 0
	starPx, starSx := -1, -1
	for px < len(p) || sx < len(s) {
		if px < len(p) {
			switch p[px] {
			case '*':
				starPx, starSx = px+1, sx
				px++
				continue
			case '?':
				if sx < len(s) {
					_, w := utf8.DecodeRuneInString(s[sx:])
					px++
					sx += w
					continue
				}
			case '[':
				if sx < len(s) {
					r, w := utf8.DecodeRuneInString(s[sx:])
					if ok, n, valid := matchClass(p[px:], r); valid {
						if ok {
							px += n
							sx += w
							continue
						}
						break
					}
				}
				// An unterminated class is a literal '['.
				if sx < len(s) && s[sx] == '[' {
					px++
					sx++
					continue
				}
			case '\\':
				if px+1 < len(p) {
					if sx < len(s) && s[sx] == p[px+1] {
						px += 2
						sx++
						continue
					}
					break
				}
				if sx < len(s) && s[sx] == '\\' {
					px++
					sx++
					continue
				}
			default:
				if sx < len(s) && s[sx] == p[px] {
					px++
					sx++
					continue
				}
			}
		}
		if starPx >= 0 && starSx < len(s) {
			_, w := utf8.DecodeRuneInString(s[starSx:])
			starSx += w
			px, sx = starPx, starSx
			continue
		}
		return false
	}
	return true
}

// matchClass matches r against the class at the start of p ("[...]"). It
// returns whether r is in the class, the class's length in bytes, and whether
// the class is well formed (has a closing ']').
func matchClass(p string, r rune) (ok bool, n int, valid bool) {
	i := 1
	negate := false
	if i < len(p) && (p[i] == '!' || p[i] == '^') {
		negate = true
		i++
	}
	first := true
	for i < len(p) {
		if p[i] == ']' && !first {
			return ok != negate, i + 1, true
		}
		first = false
		lo, w := classChar(p[i:])
		if w == 0 {
			return false, 0, false
		}
		i += w
		hi := lo
		if i+1 < len(p) && p[i] == '-' && p[i+1] != ']' {
			var w2 int
			hi, w2 = classChar(p[i+1:])
			if w2 == 0 {
				return false, 0, false
			}
			i += 1 + w2
		}
		if lo <= r && r <= hi {
			ok = true
		}
	}
	return false, 0, false
}

// classChar decodes one possibly escaped character of a class.
func classChar(p string) (rune, int) {
	if p[0] == '\\' {
		if len(p) < 2 {
			return 0, 0
		}
		r, w := utf8.DecodeRuneInString(p[1:])
		return r, w + 1
	}
	return utf8.DecodeRuneInString(p)
}
