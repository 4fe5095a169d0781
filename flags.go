package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// commandList is every command with its one-line summary, in the order
// `cluster -h` and the completion scripts show them.
var commandList = []struct{ name, summary string }{
	{"run", "run the cluster in the foreground"},
	{"check", "validate the configuration and print what run would start"},
	{"exec", "run one command with a process type's environment and directory"},
	{"status", "table of the running cluster's workers"},
	{"logs", "print the last lines of the running cluster's workers, and follow them with -f"},
	{"reload", "rolling, zero-downtime reload"},
	{"restart", "replace one worker, or every worker of a type"},
	{"scale", "change worker counts at run time"},
	{"signal", "send a signal to workers"},
	{"stop", "graceful shutdown of the running cluster, or of the named types only"},
	{"start", "start types stopped with cluster stop PROCESS again"},
	{"attach", "connect the terminal to a tty = true worker's terminal (detach: Ctrl-\\)"},
	{"export", "write systemd units, Kubernetes manifests or a Procfile into DIR (default: the current directory; a Procfile: stdout)"},
	{"completion", "print the shell completion script for bash, zsh or fish"},
	{"version", "print the version"},
}

func commandSummary(name string) string {
	for _, c := range commandList {
		if c.name == name {
			return c.summary
		}
	}
	return ""
}

func commandNames() []string {
	names := make([]string, len(commandList))
	for i, c := range commandList {
		names[i] = c.name
	}
	return names
}

// topUsage is what `cluster -h` prints.
func topUsage() string {
	var b strings.Builder
	b.WriteString("cluster runs the process types of a Clusterfile (or Procfile) as supervised workers.\n\n")
	b.WriteString("Usage: cluster COMMAND [flags] [ARG ...]\n\nCommands:\n")
	for _, c := range commandList {
		fmt.Fprintf(&b, "  %-11s %s\n", c.name, c.summary)
	}
	b.WriteString("\nRun \"cluster COMMAND -h\" for the flags of a command; \"cluster --version\" prints the version.\n")
	return b.String()
}

// flagSpec is how a flag is written in help texts and the README: a single
// dash for a one-letter name, two for a long one, then the value's
// placeholder: "-f FILE", "--color auto|always|never", "--watch".
func flagSpec(f *flag.Flag) string {
	if p := placeholder(f); p != "" {
		return dashed(f.Name) + " " + p
	}
	return dashed(f.Name)
}

func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// valueNames names the values of flags whose usage text names none (export.go's).
var valueNames = map[string]string{
	"f": "FILE", "bin": "PATH", "watchdog": "DURATION", "image": "IMAGE", "clusterfile-path": "PATH", "health-port": "PORT",
}

// placeholder is the value a flag takes as help shows it: a usage text that
// starts with `NAME` names it; "" for a boolean flag.
func placeholder(f *flag.Flag) string {
	if isBool(f) {
		return ""
	}
	if rest, ok := strings.CutPrefix(f.Usage, "`"); ok {
		if name, _, ok := strings.Cut(rest, "`"); ok {
			return name
		}
	}
	if n, ok := valueNames[f.Name]; ok {
		return n
	}
	name, _ := flag.UnquoteUsage(f)
	switch name {
	case "int", "uint":
		return "N"
	case "":
		return "VALUE"
	}
	return strings.ToUpper(name)
}

// description is a flag's usage text without its placeholder, with its default.
func description(f *flag.Flag) string {
	text := f.Usage
	if rest, ok := strings.CutPrefix(text, "`"); ok {
		if _, after, ok := strings.Cut(rest, "`"); ok {
			text = strings.TrimSpace(after)
		}
	} else {
		_, text = flag.UnquoteUsage(f)
	}
	if d := f.DefValue; d != "" && d != "false" && d != "0" && d != "0s" && !strings.Contains(text, "(default") {
		text += " (default " + d + ")"
	}
	return text
}

// hidden flags (an empty usage text) are for the completion scripts, not people.
func hidden(f *flag.Flag) bool { return f.Usage == "" }

// visibleFlags lists the flags help shows, sorted by name.
func visibleFlags(fs *flag.FlagSet) []*flag.Flag {
	var out []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if !hidden(f) {
			out = append(out, f)
		}
	})
	return out
}

// flagCollector is a stdout that receives a command's FlagSet instead of its
// help text: the completion scripts are generated from the same flags that
// `cluster COMMAND -h` prints.
type flagCollector struct{ fs *flag.FlagSet }

func (*flagCollector) Write(p []byte) (int, error) { return len(p), nil }

// newFlags returns the FlagSet of one command; parseFlags prints its usage
// for -h (to stdout, once) and turns its errors into one line with a hint.
func newFlags(name, synopsis string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		if c, ok := stdout.(*flagCollector); ok {
			c.fs = fs
			return
		}
		printUsage(stdout, fs, synopsis)
	}
	return fs
}

func printUsage(w io.Writer, fs *flag.FlagSet, synopsis string) {
	head := "Usage: cluster " + fs.Name() + " "
	fmt.Fprintln(w, strings.TrimSpace(head+strings.ReplaceAll(synopsis, "\n", "\n"+strings.Repeat(" ", len(head)))))
	if s := commandSummary(fs.Name()); s != "" {
		fmt.Fprintf(w, "\n%s%s.\n", strings.ToUpper(s[:1]), s[1:])
	}
	flags := visibleFlags(fs)
	if len(flags) == 0 {
		return
	}
	const maxWidth = 26
	width := 0
	for _, f := range flags {
		if n := len(flagSpec(f)); n <= maxWidth && n > width {
			width = n
		}
	}
	fmt.Fprint(w, "\nFlags:\n")
	for _, f := range flags {
		spec := flagSpec(f)
		if len(spec) > width {
			fmt.Fprintf(w, "  %s\n  %-*s  %s\n", spec, width, "", description(f))
		} else {
			fmt.Fprintf(w, "  %-*s  %s\n", width, spec, description(f))
		}
	}
}

// parseFlags parses flags that may come before or after positional
// arguments. It returns the exit status to use when it should stop (-h: 0,
// a bad flag: 2) or -1 to go on.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) ([]string, int) {
	usage := fs.Usage
	fs.Usage = func() {} // the flag package calls it on every error: print it here, once
	defer func() { fs.Usage = usage }()
	typed := args
	args = unglue(fs, args)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				usage()
				return nil, 0
			}
			usageError(stderr, fs.Name(), "%s", flagError(fs, err, typed))
			return nil, 2
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, -1
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// unglue splits a value glued to a one-letter flag that takes one, as
// getopt (tail -n3, foreman -m web=2) reads it: -n3 is -n 3, -wweb=2 is
// -w web=2, -fProcfile.dev is -f Procfile.dev. A word that is a flag's
// name (-watch, -port=1), starts with a boolean one-letter flag, or looks
// like a misspelt long flag (-wacth) is left for the flag package and
// flagError. A flag's separate value, and what follows "--", are left
// alone.
func unglue(fs *flag.FlagSet, args []string) []string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) < 2 || a[0] != '-' {
			out = append(out, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if f := fs.Lookup(name); f != nil {
			out = append(out, a)
			if !hasValue && !isBool(f) && i+1 < len(args) {
				i++ // its value, whatever it looks like
				out = append(out, args[i])
			}
			continue
		}
		f := fs.Lookup(a[1:2])
		if strings.HasPrefix(a, "--") || f == nil || suggest(name, names) != "" {
			out = append(out, a)
			continue
		}
		if isBool(f) {
			// One-letter booleans clustered, as getopt reads them, the
			// last maybe a flag with a value: -fn100 is -f -n 100.
			split, wantsValue := cluster(fs, a)
			out = append(out, split...)
			if wantsValue && i+1 < len(args) {
				i++ // its value, whatever it looks like
				out = append(out, args[i])
			}
			continue
		}
		out = append(out, a[:2], a[2:])
	}
	return out
}

// cluster splits -xyz, one-letter booleans clustered, into -x -y -z; the
// first letter that is a flag with a value takes the rest as its value
// (-fn100: -f -n 100; -fn: -f -n, its value the next argument). When a
// letter is no flag, or "=" is in it, a stays whole, for the flag
// package's error.
// wantsValue: the last is a flag whose value is the next argument.
func cluster(fs *flag.FlagSet, a string) (out []string, wantsValue bool) {
	for j := 1; j < len(a); j++ {
		f := fs.Lookup(a[j : j+1])
		if f == nil || a[j] == '=' || a[j] == '-' {
			return []string{a}, false
		}
		out = append(out, "-"+a[j:j+1])
		if !isBool(f) {
			if j+1 < len(a) {
				return append(out, a[j+1:]), false
			}
			return out, true
		}
	}
	return out, false
}

// usageError prints one line: what is wrong, and where to look.
func usageError(stderr io.Writer, cmd, format string, args ...any) {
	fmt.Fprintf(stderr, "cluster %s: %s; see cluster %s -h\n", cmd, fmt.Sprintf(format, args...), cmd)
}

// flagError rewrites the flag package's errors in the help's terms
// (--color, not -color), with a suggestion for a misspelt flag.
// typed are the arguments as given: a flag is quoted as the user wrote it
// (-x3 stays -x3), not as help spells a flag of that name (--x3).
func flagError(fs *flag.FlagSet, err error, typed []string) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		if hint, ok := gluedForeman(fs, name, typed); ok {
			return hint
		}
		msg := unknownFlag(fs.Name(), name, visibleFlags(fs))
		if len(name) > 1 && slices.ContainsFunc(typed, func(a string) bool { return a == "-"+name || strings.HasPrefix(a, "-"+name+"=") }) &&
			!slices.ContainsFunc(typed, func(a string) bool { return a == "--"+name || strings.HasPrefix(a, "--"+name+"=") }) {
			msg = strings.Replace(msg, "unknown flag "+dashed(name), "unknown flag -"+name, 1)
		}
		return msg
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		if f := fs.Lookup(name); f != nil {
			return fmt.Sprintf("%s needs a value (%s)", dashed(name), flagSpec(f))
		}
		return dashed(name) + " needs a value"
	}
	// invalid value "x" for flag -name: why / invalid boolean value "x" for -name: why
	for _, marker := range []string{" for flag -", " for -"} {
		head, rest, ok := strings.Cut(msg, marker)
		if !ok {
			continue
		}
		name, why, _ := strings.Cut(rest, ": ")
		value := head[strings.IndexByte(head, '"'):]
		if f := fs.Lookup(name); f != nil {
			switch why {
			case "parse error", "value out of range":
				why = "want " + placeholder(f)
				if isBool(f) {
					why = "want true or false"
				}
			}
		}
		if v, err := strconv.Unquote(value); err == nil && v != "" && len(name) == 1 && slices.Contains(typed, "-"+name+v) {
			why += fmt.Sprintf(" (-%s%s reads as -%s %s)", name, v, name, v) // unglue split it (a glued value is never empty): say so
		}
		return fmt.Sprintf("invalid value %s for %s: %s", value, dashed(name), why)
	}
	return msg
}

// foremanFlags are the flags of foreman and honcho that cluster spells
// another way, by the name of cluster's.
var foremanFlags = map[string]string{
	"m": "w", "c": "w", "formation": "w", "concurrency": "w",
	"p": "port", "env": "e", "procfile": "f",
}

// foremanStart is the hint for a foreman user who typed `cluster start`:
// foreman's start is cluster's run, and cluster's start only starts again
// types stopped in a running cluster.
const foremanStart = "foreman's start is cluster run [PROCESS ...]"

// gluedForeman is the hint for a foreman flag with its value glued, as
// typed: -mweb=2 or -cweb=2 (the flag package reads the flag "mweb"), or
// -p5000, on a command without those flags: "unknown flag -mweb=2
// (foreman's -m is -w PROCESS=N,... here)", as the spaced form is told.
func gluedForeman(fs *flag.FlagSet, name string, typed []string) (string, bool) {
	if len(name) < 2 || fs.Lookup(name[:1]) != nil {
		return "", false
	}
	letter, rest := name[:1], name[1:]
	var arg string
	switch letter {
	case "m", "c": // -mweb=2: the flag package stops at '='
		i := slices.IndexFunc(typed, func(a string) bool { return strings.HasPrefix(a, "-"+name+"=") })
		if i < 0 {
			return "", false
		}
		arg = typed[i]
	case "p": // -p5000
		if strings.Trim(rest, "0123456789") != "" || !slices.Contains(typed, "-"+name) {
			return "", false
		}
		arg = "-" + name
	default:
		return "", false
	}
	hint := unknownFlag(fs.Name(), letter, visibleFlags(fs))
	after, ok := strings.CutPrefix(hint, "unknown flag -"+letter+" (")
	if !ok {
		return "", false
	}
	return "unknown flag " + arg + " (" + after, true
}

func unknownFlag(cmd, name string, known []*flag.Flag) string {
	names := make([]string, len(known))
	for i, f := range known {
		names[i] = f.Name
		if foremanFlags[name] == f.Name {
			return fmt.Sprintf("unknown flag %s (foreman's %s is %s here)", dashed(name), dashed(name), flagSpec(f))
		}
	}
	if cmd == "start" {
		// foreman's start -m web=2 or -e .env: the flag is run's.
		if run := commandFlags("run"); run != nil {
			if f := run.Lookup(foremanFlags[name]); f != nil && !hidden(f) {
				return fmt.Sprintf("unknown flag %s (%s, where %s is %s)", dashed(name), foremanStart, dashed(name), flagSpec(f))
			}
			if f := run.Lookup(name); f != nil && !hidden(f) {
				return fmt.Sprintf("unknown flag %s (%s, which has %s)", dashed(name), foremanStart, flagSpec(f))
			}
		}
	}
	msg := "unknown flag " + dashed(name)
	if s := suggest(name, names); s != "" {
		msg += " (did you mean " + dashed(s) + "?)"
	}
	return msg
}

// suggest returns the candidate closest to s when it is close enough to be
// a typo of it (or s is an unambiguous prefix of it), else "".
func suggest(s string, candidates []string) string {
	best, bestDist := "", len(s)/3+1
	var prefixed []string
	for _, c := range candidates {
		if strings.HasPrefix(c, s) && len(s) >= 2 {
			prefixed = append(prefixed, c)
		}
		if d := editDistance(s, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" && len(prefixed) == 1 {
		return prefixed[0]
	}
	return best
}

// editDistance is the Damerau-Levenshtein distance (optimal string alignment).
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// plural says "1 worker", "2 workers".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	if strings.HasSuffix(word, "sh") {
		return fmt.Sprintf("%d %ses", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
