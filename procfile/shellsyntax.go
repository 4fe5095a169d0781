package procfile

import (
	"fmt"
	"strings"
)

// shellSyntax reports the first piece of shell syntax in a command, as the
// user would name it ("&&", "|", "2>&1", "$(", "cd", "VAR=value", "*"), or
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
	return fmt.Sprintf("contains %q: set shell = true or split it", op)
}
