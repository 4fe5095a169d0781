package procfile

import (
	"fmt"
	"strings"
)

// shellSyntax reports the first piece of shell syntax in a command, as the
// user would name it ("&&", "|", "2>&1", "$(", "$$", "cd", "VAR=value", "*"), or
// "" when the command is plain words that Argv can split and exec itself.
//
// foreman, honcho and Heroku run every Procfile line through a shell; we
// exec plain commands directly (the worker's PID is the app's) and hand the
// rest to /bin/sh -c, so what a shell would do is exactly what runs. $VAR,
// ${VAR}, ${VAR:-default} are not shell syntax here: Argv expands them.
func shellSyntax(cmd string) string {
	quote := byte(0)
	wordStart := true // at the start of a word
	firstWord := true // in the first word of the command
	for i := 0; i < len(cmd); i++ {
		c := cmd[i]
		rest := cmd[i:]
		if quote == '\'' {
			if c == '\'' {
				quote = 0
			}
			continue
		}
		if c == '\\' {
			i++
			wordStart = false
			continue
		}
		// Command substitution works inside double quotes too.
		if c == '`' {
			return "`"
		}
		if strings.HasPrefix(rest, "$(") {
			return "$("
		}
		// The shell's special parameters ($$ its pid, $1 and $@ the
		// arguments, $? the last status, ...): only sh gives them a value.
		if c == '$' && len(rest) > 1 && strings.IndexByte(specialParams, rest[1]) >= 0 {
			return rest[:2]
		}
		if strings.HasPrefix(rest, "${") {
			none := &expander{get: func(string) (string, bool) { return "", false }, unescape: func(c byte) (string, bool) { return string(c), true }}
			if _, _, err := none.expandAt(rest, 0); err != nil {
				return "${"
			}
		}
		if quote == '"' {
			if c == '"' {
				quote = 0
			}
			continue
		}
		switch c {
		case '\'', '"':
			quote = c
			wordStart = false
			continue
		case ' ', '\t':
			if !wordStart {
				firstWord = false
			}
			wordStart = true
			continue
		case '\n':
			return "a newline"
		}
		for _, op := range []string{"&&", "||", ";", "|", "&", "(", ")"} {
			if strings.HasPrefix(rest, op) {
				return op
			}
		}
		if c == '>' || c == '<' {
			// Name the whole redirection: "2>&1", ">>", ">", "<".
			start := i
			for start > 0 && cmd[start-1] >= '0' && cmd[start-1] <= '9' {
				start--
			}
			end := i + 1
			for end < len(cmd) && strings.IndexByte("<>&-0123456789", cmd[end]) >= 0 {
				end++
			}
			if start > 0 && cmd[start-1] != ' ' && cmd[start-1] != '\t' {
				start = i // "a2>b": the digit belongs to the word before
			}
			return cmd[start:end]
		}
		if wordStart {
			if c == '#' {
				return "#"
			}
			if c == '~' {
				return "~"
			}
			if firstWord {
				w := rest
				if j := strings.IndexAny(w, " \t"); j >= 0 {
					w = w[:j]
				}
				if shellBuiltins[w] {
					return w
				}
				if name, _, ok := strings.Cut(w, "="); ok && envName(name) {
					return "VAR=value"
				}
			}
		}
		if c == '*' || c == '?' || c == '[' {
			return string(c)
		}
		wordStart = false
	}
	return ""
}

// specialParams are the characters that follow '$' in the shell's special
// parameters: $$ $# $? $! $@ $* $- and $0 to $9.
const specialParams = "$#?!@*-0123456789"

// shellBuiltins are first words that only mean something to a shell.
var shellBuiltins = map[string]bool{
	"cd": true, "exec": true, "export": true, "source": true, ".": true, "eval": true,
	"set": true, "unset": true, "ulimit": true, "umask": true, "trap": true, "wait": true,
	"if": true, "for": true, "while": true, "until": true, "case": true, "{": true, "!": true,
}

// envName reports whether s is a shell variable name (a leading VAR=value).
func envName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// shellSyntaxHint is the error for shell syntax in a command that runs
// without a shell (a Clusterfile's shell = false).
func shellSyntaxHint(op, name string) string {
	switch op {
	case "VAR=value":
		return fmt.Sprintf("starts with a VAR=value assignment, which only a shell understands: move it to [process.%s.env], or set shell = true", name)
	case "*", "?", "[", "~":
		return fmt.Sprintf("contains %q, which a shell would expand as a pattern: quote it, or set shell = true", op)
	case "a newline":
		return "contains a newline: set shell = true or split it"
	}
	if len(op) == 2 && op[0] == '$' && strings.IndexByte(specialParams, op[1]) >= 0 {
		return fmt.Sprintf("contains %q, a parameter only a shell gives a value: set shell = true", op)
	}
	return fmt.Sprintf("contains %q: set shell = true or split it", op)
}

// shellExpandsPort reports whether sh -c cmd would expand PORT: $PORT,
// ${PORT}, ${PORT:-...} and the like, ${#PORT}, unquoted or in double quotes,
// also inside a default or a command substitution; not in single quotes,
// after a backslash, in a # comment, nor $$PORT (the shell's PID, then text).
func shellExpandsPort(cmd string) bool {
	const (
		plain    = iota // the command, or the inside of $(...)
		dquoted         // "..."
		backtick        // `...`
	)
	type frame struct{ kind, parens int }
	stack := []frame{{kind: plain}}
	wordStart := true
	for i := 0; i < len(cmd); i++ {
		c := cmd[i]
		top := &stack[len(stack)-1]
		atWord := wordStart
		wordStart = false
		switch {
		case c == '\\':
			i++ // the next character is literal (or a backslash-newline)
		case c == '$':
			rest := cmd[i+1:]
			switch {
			case portParam(rest):
				return true
			case strings.HasPrefix(rest, "$"):
				i++
			case strings.HasPrefix(rest, "("):
				stack = append(stack, frame{kind: plain})
				i++
				wordStart = true
			}
		case c == '`':
			if top.kind == backtick {
				stack = stack[:len(stack)-1]
			} else {
				stack = append(stack, frame{kind: backtick})
				wordStart = true
			}
		case top.kind == dquoted:
			if c == '"' {
				stack = stack[:len(stack)-1]
			}
		case c == '"':
			stack = append(stack, frame{kind: dquoted})
		case c == '\'':
			j := strings.IndexByte(cmd[i+1:], '\'')
			if j < 0 {
				return false
			}
			i += j + 1
		case c == '#' && atWord:
			j := strings.IndexByte(cmd[i:], '\n')
			if j < 0 {
				return false
			}
			i += j
			wordStart = true
		case c == '(':
			top.parens++
			wordStart = true
		case c == ')':
			if top.parens > 0 {
				top.parens--
			} else if top.kind == plain && len(stack) > 1 {
				stack = stack[:len(stack)-1] // the end of $(...)
			}
			wordStart = true
		default:
			wordStart = strings.IndexByte(" \t\n;&|<>", c) >= 0
		}
	}
	return false
}

// portParam reports whether s, what follows a '$', starts a parameter
// expansion of PORT.
func portParam(s string) bool {
	if t, ok := strings.CutPrefix(s, "{"); ok {
		t = strings.TrimPrefix(t, "#")
		rest, ok := strings.CutPrefix(t, "PORT")
		return ok && rest != "" && strings.IndexByte("}:-=?+%#/^,", rest[0]) >= 0
	}
	rest, ok := strings.CutPrefix(s, "PORT")
	return ok && (rest == "" || !(rest[0] == '_' || rest[0] >= 'a' && rest[0] <= 'z' || rest[0] >= 'A' && rest[0] <= 'Z' || rest[0] >= '0' && rest[0] <= '9'))
}
