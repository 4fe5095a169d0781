package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/cluster-run/cluster/procfile"
)

// The completion scripts are generated from commandList and each command's
// own FlagSet (the flags `cluster COMMAND -h` prints), so they cannot drift
// from the commands. Process names come at completion time from the hidden
// `cluster completion --names [-f FILE]`, which lists the types of the
// Clusterfile the command line names, else the one in the current directory.

const completionSynopsis = "bash|zsh|fish"

func cmdCompletion(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("completion", completionSynopsis, stdout)
	names := fs.Bool("names", false, "") // hidden: the scripts' helper
	file := fs.String("f", "", "")       // hidden: with --names
	pos, code := parseFlags(fs, args, stderr)
	if code >= 0 {
		return code
	}
	if *names {
		return printNames(*file, stdout)
	}
	if len(pos) != 1 {
		usageError(stderr, "completion", "want one shell: bash, zsh or fish")
		return 2
	}
	cmds := completionCommands()
	switch pos[0] {
	case "bash":
		writeBash(stdout, cmds)
	case "zsh":
		writeZsh(stdout, cmds)
	case "fish":
		writeFish(stdout, cmds)
	default:
		usageError(stderr, "completion", "unknown shell %q: want bash, zsh or fish", pos[0])
		return 2
	}
	return 0
}

// printNames lists the process types of the Clusterfile, one a line; it is
// silent when there is none or it does not load (a completion has no room
// for errors).
func printNames(file string, stdout io.Writer) int {
	path, err := configPath(file)
	if err != nil {
		return 1
	}
	cfg, err := procfile.Load(path)
	if err != nil {
		return 1
	}
	for _, p := range cfg.Processes {
		fmt.Fprintln(stdout, p.Name)
	}
	return 0
}

// Positional arguments, by kind.
const (
	argNone      = ""
	argProcesses = "processes" // PROCESS ... (or PROCESS[.N])
	argScale     = "scale"     // PROCESS=N ...
	argSignal    = "signal"    // PROCESS[.N] SIGNAL
	argExport    = "export"    // FORMAT [DIR]
	argShell     = "shell"     // bash|zsh|fish
	argCommand   = "command"   // COMMAND (help)
)

var commandArgs = map[string]string{
	"run": argProcesses, "check": argProcesses, "exec": argProcesses, "reload": argProcesses, "restart": argProcesses,
	"stop": argProcesses, "start": argProcesses, "attach": argProcesses, "logs": argProcesses,
	"scale": argScale, "signal": argSignal, "export": argExport, "completion": argShell,
	"help": argCommand,
}

var (
	exportFormats = []string{"systemd", "kubernetes", "procfile"}
	shells        = []string{"bash", "zsh", "fish"}
	signalNames   = []string{"HUP", "INT", "QUIT", "KILL", "USR1", "USR2", "TERM", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "WINCH"}
)

type compCommand struct {
	name, summary, args string
	flags               []compFlag
}

type compFlag struct {
	name, value, desc string // value: the placeholder, "" for a boolean flag
}

// choices are the values a flag's placeholder lists ("auto|always|never").
func (f compFlag) choices() []string {
	if strings.Contains(f.value, "|") {
		return strings.Split(f.value, "|")
	}
	return nil
}

// completionCommands lists every command with its flags, and help last:
// `cluster help COMMAND` is not in commandList (cluster -h says
// "cluster COMMAND -h" instead), but a user may type it.
func completionCommands() []compCommand {
	var out []compCommand
	for _, c := range commandList {
		cc := compCommand{name: c.name, summary: c.summary, args: commandArgs[c.name]}
		if fs := commandFlags(c.name); fs != nil {
			for _, f := range visibleFlags(fs) {
				cc.flags = append(cc.flags, compFlag{name: f.Name, value: placeholder(f), desc: description(f)})
			}
		}
		out = append(out, cc)
	}
	return append(out, compCommand{name: "help", summary: "print the help of a command", args: argCommand})
}

// helpTopics are the commands `cluster help` completes: every one but help.
func helpTopics(cmds []compCommand) []compCommand {
	return slices.DeleteFunc(slices.Clone(cmds), func(c compCommand) bool { return c.args == argCommand })
}

func commandWords(cmds []compCommand) string {
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = c.name
	}
	return strings.Join(names, " ")
}

// commandFlags returns the FlagSet of a command, as its -h would print it.
func commandFlags(name string) *flag.FlagSet {
	c := &flagCollector{}
	command([]string{name, "-h"}, nil, c, io.Discard) // not run: its stdout would not be c
	return c.fs
}

// valued lists the names of the flags that take a value, over every command.
func valued(cmds []compCommand) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range cmds {
		for _, f := range c.flags {
			if f.value != "" && !seen[f.name] {
				seen[f.name] = true
				out = append(out, f.name)
			}
		}
	}
	return out
}

// flagValues maps each flag that takes a value to how its value completes:
// "files", "dirs", "names=" (PROCESS=N), a list of choices, or "" (nothing).
func flagValues(cmds []compCommand) map[string]string {
	out := map[string]string{}
	for _, c := range cmds {
		for _, f := range c.flags {
			switch {
			case f.value == "":
			case f.value == "FILE" || strings.HasPrefix(f.value, "FILE,"):
				out[f.name] = "files"
			case f.value == "DIR":
				out[f.name] = "dirs"
			case strings.HasPrefix(f.value, "PROCESS="):
				out[f.name] = "names="
			case f.choices() != nil:
				out[f.name] = strings.Join(f.choices(), " ")
			default:
				if _, ok := out[f.name]; !ok {
					out[f.name] = ""
				}
			}
		}
	}
	return out
}

func writeBash(w io.Writer, cmds []compCommand) {
	var names []string
	for _, c := range cmds {
		names = append(names, c.name)
	}
	fmt.Fprintf(w, `# bash completion for cluster, generated by "cluster completion bash".
# Load it with: source <(cluster completion bash)

# _cluster_names lists the process types of the Clusterfile named by -f on
# the command line, else of the one in the current directory.
_cluster_names() {
    local i f file=()
    for ((i = 2; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
        -f | --f | --file | -file)
            [[ ${COMP_WORDS[1]} == logs && ${COMP_WORDS[i]} == *-f ]] && continue # logs -f: follow
            f=${COMP_WORDS[i + 1]}
            [[ $f == "~/"* ]] && f=$HOME/${f#"~/"}
            file=(-f "$f")
            ;;
        esac
    done
    "${COMP_WORDS[0]}" completion --names "${file[@]}" 2>/dev/null
}

_cluster() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
    COMPREPLY=()
    if ((COMP_CWORD == 1)); then
        COMPREPLY=($(compgen -W "%s -h --help -v --version" -- "$cur"))
        return
    fi
    local cmd=${COMP_WORDS[1]} flags="" valued=" %s "
    case $cmd in
`, strings.Join(names, " "), strings.Join(valued(cmds), " "))
	for _, c := range cmds {
		var fl []string
		for _, f := range c.flags {
			fl = append(fl, dashed(f.name))
		}
		// valued: this command's own (logs' -f takes no value).
		fmt.Fprintf(w, "    %s) flags=%q valued=%q ;;\n", c.name, strings.Join(fl, " "), " "+strings.Join(valued([]compCommand{c}), " ")+" ")
	}
	fmt.Fprint(w, `    esac

    # Count the arguments before the word being completed, flags and their values aside.
    local i w n npos=0
    for ((i = 2; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        if [[ $w == -- ]]; then
            compopt -o default 2>/dev/null # run -- COMMAND: whatever the shell completes
            return
        fi
        if [[ $w == -* ]]; then
            n=${w#-}
            n=${n#-}
            [[ $valued == *" $n "* ]] && ((i++))
            continue
        fi
        ((npos++))
    done

    n=${prev#-}
    n=${n#-}
    if [[ $prev == -* && $valued == *" $n "* ]]; then
        case $n in
`)
	values := flagValues(cmds)
	for _, name := range valued(cmds) {
		v := values[name]
		fmt.Fprintf(w, "        %s) ", name)
		switch v {
		case "files":
			fmt.Fprint(w, `compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur"))`)
		case "dirs":
			fmt.Fprint(w, `compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur"))`)
		case "names=":
			fmt.Fprint(w, `compopt -o nospace 2>/dev/null; COMPREPLY=($(compgen -S = -W "$(_cluster_names)" -- "$cur"))`)
		case "":
			fmt.Fprint(w, ":")
		default:
			fmt.Fprintf(w, `COMPREPLY=($(compgen -W %q -- "$cur"))`, v)
		}
		fmt.Fprint(w, " ;;\n")
	}
	fmt.Fprintf(w, `        esac
        return
    fi
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$flags" -- "$cur"))
        return
    fi
    case $cmd in
`)
	byKind := map[string][]string{}
	for _, c := range cmds {
		if c.args != argNone {
			byKind[c.args] = append(byKind[c.args], c.name)
		}
	}
	for _, kind := range []string{argProcesses, argScale, argSignal, argExport, argShell, argCommand} {
		if len(byKind[kind]) == 0 {
			continue
		}
		fmt.Fprintf(w, "    %s)\n        ", strings.Join(byKind[kind], " | "))
		switch kind {
		case argProcesses:
			fmt.Fprint(w, `COMPREPLY=($(compgen -W "$(_cluster_names)" -- "$cur"))`)
		case argScale:
			fmt.Fprint(w, `compopt -o nospace 2>/dev/null; COMPREPLY=($(compgen -S = -W "$(_cluster_names)" -- "$cur"))`)
		case argSignal:
			fmt.Fprintf(w, `if ((npos == 0)); then COMPREPLY=($(compgen -W "$(_cluster_names)" -- "$cur")); elif ((npos == 1)); then COMPREPLY=($(compgen -W %q -- "$cur")); fi`, strings.Join(signalNames, " "))
		case argExport:
			fmt.Fprintf(w, `if ((npos == 0)); then COMPREPLY=($(compgen -W %q -- "$cur")); elif ((npos == 1)); then compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur")); fi`, strings.Join(exportFormats, " "))
		case argShell:
			fmt.Fprintf(w, `((npos == 0)) && COMPREPLY=($(compgen -W %q -- "$cur"))`, strings.Join(shells, " "))
		case argCommand:
			fmt.Fprintf(w, `((npos == 0)) && COMPREPLY=($(compgen -W %q -- "$cur"))`, commandWords(helpTopics(cmds)))
		}
		fmt.Fprint(w, "\n        ;;\n")
	}
	fmt.Fprint(w, `    esac
}

complete -F _cluster cluster
`)
}

// zshDesc makes s safe in an _arguments or _describe field, where ':'
// separates fields and '[' ']' bracket a description.
func zshDesc(s string) string {
	return strings.NewReplacer("[", "(", "]", ")", ":", `\:`).Replace(s)
}

// zshWord quotes s as one single-quoted zsh word.
func zshWord(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func writeZsh(w io.Writer, cmds []compCommand) {
	fmt.Fprint(w, `#compdef cluster
# zsh completion for cluster, generated by "cluster completion zsh".
# Load it with: source <(cluster completion zsh)
# or save it as _cluster in a directory of $fpath.

# _cluster_types sets reply to the process types of the Clusterfile named by
# -f on the command line, else of the one in the current directory.
_cluster_types() {
  local -a file
  local i
  for (( i = 1; i < CURRENT; i++ )); do
    [[ $words[i] == (-f|--f) && $words[1] != logs || $words[i] == (--file|-file) ]] && file=(-f "${words[i+1]/#\~/$HOME}")
  done
  reply=(${(f)"$(_call_program names $_cluster_bin completion --names $file 2>/dev/null)"})
}

# Completion functions get compadd's options from _arguments in $@.
_cluster_names() {
  local -a reply
  _cluster_types
  compadd "$@" -a reply
}

_cluster_scale() {
  local -a reply
  _cluster_types
  compadd "$@" -q -S = -a reply
}

_cluster() {
  local curcontext=$curcontext state line _cluster_bin=$words[1]
  local -a commands
  commands=(
`)
	for _, c := range cmds {
		fmt.Fprintf(w, "    %s\n", zshWord(c.name+":"+zshDesc(c.summary)))
	}
	fmt.Fprint(w, `  )
  _arguments -C \
    '(- *)'{-h,--help}'[print help]' \
    '(- *)'{-v,--version}'[print the version]' \
    '1: :->command' \
    '*:: :->args'
  case $state in
  command)
    _describe -t commands 'cluster command' commands
    ;;
  args)
    case $words[1] in
`)
	for _, c := range cmds {
		fmt.Fprintf(w, "    %s)\n      _arguments -s", c.name)
		for _, f := range c.flags {
			spec := dashed(f.name) + "[" + zshDesc(f.desc) + "]"
			if f.value != "" {
				spec += ":" + zshDesc(f.value) + ":"
				switch v := flagValues([]compCommand{{flags: []compFlag{f}}})[f.name]; v {
				case "files":
					spec += "_files"
				case "dirs":
					spec += "_files -/"
				case "names=":
					spec += "_cluster_scale"
				case "":
					spec += " "
				default:
					spec += "(" + v + ")"
				}
			}
			fmt.Fprintf(w, " \\\n        %s", zshWord(spec))
		}
		switch c.args {
		case argProcesses:
			fmt.Fprint(w, ` \`+"\n        '*:process type:_cluster_names'")
		case argScale:
			fmt.Fprint(w, ` \`+"\n        '*:PROCESS=N:_cluster_scale'")
		case argSignal:
			fmt.Fprintf(w, ` \`+"\n        '1:process type:_cluster_names' \\\n        '2:signal:(%s)'", strings.Join(signalNames, " "))
		case argExport:
			fmt.Fprintf(w, ` \`+"\n        '1:format:(%s)' \\\n        '2:directory:_files -/'", strings.Join(exportFormats, " "))
		case argShell:
			fmt.Fprintf(w, ` \`+"\n        '1:shell:(%s)'", strings.Join(shells, " "))
		case argCommand:
			fmt.Fprintf(w, ` \`+"\n        '1:command:(%s)'", commandWords(helpTopics(cmds)))
		}
		fmt.Fprint(w, "\n      ;;\n")
	}
	fmt.Fprint(w, `    esac
    ;;
  esac
}

if [[ $funcstack[1] == _cluster ]]; then
  _cluster "$@"
else
  compdef _cluster cluster
fi
`)
}

// fishQuote quotes s as one single-quoted fish word.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(s) + "'"
}

func writeFish(w io.Writer, cmds []compCommand) {
	vflags := valued(cmds)
	fmt.Fprintf(w, `# fish completion for cluster, generated by "cluster completion fish".
# Load it with: cluster completion fish | source
# or save it as ~/.config/fish/completions/cluster.fish

# __cluster_names lists the process types of the Clusterfile named by -f on
# the command line, else of the one in the current directory.
function __cluster_names
    set -l tokens (commandline -opc)
    set -l file
    for i in (seq 2 (math (count $tokens) - 1))
        if contains -- $tokens[$i] --file -file; or begin; contains -- $tokens[$i] -f --f; and test "$tokens[2]" != logs; end
            set file -f $tokens[(math $i + 1)]
        end
    end
    command $tokens[1] completion --names $file 2>/dev/null
end

# __cluster_args CMD N: the command is CMD and N arguments precede the
# word being completed (flags and their values aside).
function __cluster_args -a cmd n
    set -l tokens (commandline -opc)
    test (count $tokens) -ge 2; and test "$tokens[2]" = $cmd; or return 1
    set -l npos 0
    set -l skip 0
    for i in (seq 3 (count $tokens))
        set -l t $tokens[$i]
        if test $skip = 1
            set skip 0
        else if string match -q -- '-*' $t
            contains -- (string replace -r -- '^--?' '' $t) %s; and set skip 1
        else
            set npos (math $npos + 1)
        end
    end
    test -z "$n"; or test $npos = $n
end

function __cluster_no_command
    test (count (commandline -opc)) -eq 1
end

complete -c cluster -f
complete -c cluster -n __cluster_no_command -s h -l help -d 'print help'
complete -c cluster -n __cluster_no_command -s v -l version -d 'print the version'
`, strings.Join(vflags, " "))
	for _, c := range cmds {
		fmt.Fprintf(w, "complete -c cluster -n __cluster_no_command -a %s -d %s\n", c.name, fishQuote(c.summary))
	}
	for _, c := range cmds {
		fmt.Fprintf(w, "\n# %s\n", c.name)
		cond := fishQuote("__cluster_args " + c.name)
		for _, f := range c.flags {
			opt := "-l " + f.name
			if len(f.name) == 1 {
				opt = "-s " + f.name
			}
			val := ""
			if f.value != "" {
				switch v := flagValues([]compCommand{{flags: []compFlag{f}}})[f.name]; v {
				case "files":
					val = " -r -F"
				case "dirs":
					val = " -x -a '(__fish_complete_directories)'"
				case "names=":
					val = " -x -a '(__cluster_names)='"
				case "":
					val = " -x"
				default:
					val = " -x -a " + fishQuote(v)
				}
			}
			fmt.Fprintf(w, "complete -c cluster -n %s %s%s -d %s\n", cond, opt, val, fishQuote(f.desc))
		}
		switch c.args {
		case argProcesses:
			fmt.Fprintf(w, "complete -c cluster -n %s -a '(__cluster_names)' -d 'process type'\n", cond)
		case argScale:
			fmt.Fprintf(w, "complete -c cluster -n %s -a '(__cluster_names)=' -d 'PROCESS=N'\n", cond)
		case argSignal:
			fmt.Fprintf(w, "complete -c cluster -n %s -a '(__cluster_names)' -d 'process type'\n", fishQuote("__cluster_args signal 0"))
			fmt.Fprintf(w, "complete -c cluster -n %s -a %s -d signal\n", fishQuote("__cluster_args signal 1"), fishQuote(strings.Join(signalNames, " ")))
		case argExport:
			fmt.Fprintf(w, "complete -c cluster -n %s -a %s -d format\n", fishQuote("__cluster_args export 0"), fishQuote(strings.Join(exportFormats, " ")))
			fmt.Fprintf(w, "complete -c cluster -n %s -a '(__fish_complete_directories)'\n", fishQuote("__cluster_args export 1"))
		case argShell:
			fmt.Fprintf(w, "complete -c cluster -n %s -a %s -d shell\n", fishQuote("__cluster_args completion 0"), fishQuote(strings.Join(shells, " ")))
		case argCommand:
			for _, h := range helpTopics(cmds) {
				fmt.Fprintf(w, "complete -c cluster -n %s -a %s -d %s\n", fishQuote("__cluster_args help 0"), h.name, fishQuote(h.summary))
			}
		}
	}
}
