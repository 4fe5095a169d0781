package procfile

import (
	"errors"
	"strings"

	"github.com/mattn/go-shellwords"
)

// Argv splits the command for one worker with that worker's environment
// (env is "KEY=value" pairs; later entries win). $VAR, ${VAR},
// ${VAR:-default} and ${VAR-default} are expanded from env outside single
// quotes (see expand.go), like a shell, but no shell runs: the
// expanded value is one literal piece of its word, never split or
// re-interpreted, and backticks are never executed. With Shell it returns
// ["/bin/sh", "-c", Command] and leaves expansion to the shell.
func (p *Process) Argv(env []string) ([]string, error) {
	if p.Shell {
		return []string{"/bin/sh", "-c", p.Command}, nil
	}
	return splitCommand(p.Command, env, p.FieldSplit)
}

func splitCommand(command string, env []string, fieldSplit bool) ([]string, error) {
	// In a default, a backslash quotes the next character, as in sh; in
	// double quotes only the characters it quotes there.
	get := lookupIn(env)
	bare := &expander{get: get, unescape: func(c byte) (string, bool) { return string(c), true }}
	quoted := &expander{get: get, unescape: func(c byte) (string, bool) { return string(c), c == '"' || c == '`' }}
	// Expand first, escaping what the expansion produced so shellwords keeps
	// it literal in whatever quoting context it landed.
	var sb strings.Builder
	quote := byte(0)
	for i := 0; i < len(command); i++ {
		c := command[i]
		switch {
		case c == '\\' && quote != '\'' && i+1 < len(command):
			// shellwords drops every backslash and makes \t and \n a tab
			// and a line break; sh keeps one in double quotes unless it
			// quotes $ ` " \, and drops a backslash-newline.
			d := command[i+1]
			i++
			switch {
			case d == '\n':
			case quote == '"' && strings.IndexByte("$`\"\\", d) < 0:
				sb.WriteString(`\\`)
				sb.WriteByte(d)
			case quote == 0 && (d == 't' || d == 'n'):
				sb.WriteByte(d)
			default:
				sb.WriteByte(c)
				sb.WriteByte(d)
			}
			continue
		case c == '\'' && quote == 0, c == '"' && quote == 0:
			quote = c
		case c == quote:
			quote = 0
		case c == '$' && quote != '\'':
			x := bare
			if quote == '"' {
				x = quoted
			}
			v, n, err := x.expandAt(command[i:], 0)
			if err != nil {
				return nil, err
			}
			if n > 0 {
				sb.WriteString(escapeFor(v, quote, fieldSplit))
				i += n - 1
				continue
			}
		}
		sb.WriteByte(c)
	}
	if quote != 0 {
		return nil, errors.New("unterminated " + string(quote) + " quote")
	}
	sp := shellwords.NewParser()
	sp.ParseBacktick = false
	sp.ParseEnv = false
	words, err := sp.Parse(sb.String())
	if err != nil {
		return nil, err
	}
	if len(words) == 0 {
		return nil, errors.New("empty command")
	}
	return words, nil
}

// escapeFor backslash-escapes v for the quoting context it is inserted in.
func escapeFor(v string, quote byte, fieldSplit bool) string {
	var sb strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if quote == '"' {
			if c == '"' || c == '\\' || c == '$' || c == '`' {
				sb.WriteByte('\\')
			}
		} else if fieldSplit && (c == ' ' || c == '\t' || c == '\n') {
			// sh splits an unquoted expansion into words
		} else if strings.IndexByte(" \t\n'\"\\$`|&;<>()*?[]#~=%{}", c) >= 0 {
			sb.WriteByte('\\')
		}
		sb.WriteByte(c)
	}
	return sb.String()
}
