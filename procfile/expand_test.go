package procfile

import (
	"os/exec"
	"strings"
	"testing"
)

func TestDotenvDefaults(t *testing.T) {
	os := func(k string) (string, bool) {
		if k == "HOME" {
			return "/home/x", true
		}
		return "", false
	}
	for _, c := range []struct{ src, key, want string }{
		{"C=bee\nB=${B:-${C}}\n", "B", "bee"},
		{"C=bee\nB=${B:-$C}\n", "B", "bee"},
		{"C=bee\nB=x\nB=${B:-${C}}\n", "B", "x"},
		{"A=${NO-${ALSO_NO:-deep}}\n", "A", "deep"},
		{"A=${NO:-${ALSO_NO:-${HOME}/d}}\n", "A", "/home/x/d"},
		{"E=\nA=${E-dflt}\n", "A", ""},
		{"E=\nA=${E:-dflt}\n", "A", "dflt"},
		{"A=${NO-}\n", "A", ""},
		{"C=bee\nA=\"${NO:-a $C b}\"\n", "A", "a bee b"},
		{"A=\"${NO:-tab\\there}\"\n", "A", "tab\there"},
		{"A=\"${NO:-\\\"q\\\"}\"\n", "A", `"q"`},
		{"A=${NO:-\\}}\n", "A", "}"},
		{"A=${NO:-\\$NO}\n", "A", "$NO"},
		{"A=${NO:-$}\n", "A", "$"},
		{"A='${B:-${C}'\n", "A", "${B:-${C}"},
		{"A=${NO:-x} # comment\n", "A", "x"},
		{"A=\"${NO:-multi\nline}\"\n", "A", "multi\nline"},
		{"A=$\n", "A", "$"},
		{"A=$1 $-\n", "A", "$1 $-"},
		{"A=" + strings.Repeat("${N:-", maxExpandDepth) + "z" + strings.Repeat("}", maxExpandDepth) + "\n", "A", "z"},
	} {
		got, err := ParseDotenv(strings.NewReader(c.src), ".env", os)
		if err != nil {
			t.Errorf("%q: %v", c.src, err)
			continue
		}
		value, found := "", false
		for _, kv := range got {
			if kv[0] == c.key {
				value, found = kv[1], true
			}
		}
		if !found || value != c.want {
			t.Errorf("%q: %s = %q, want %q", c.src, c.key, value, c.want)
		}
	}
	for _, c := range []struct{ src, want string }{
		{"C=bee\nB=${B:-${C}\n", `.env:2: B: unterminated "${B:-${C}": want a closing "}"`},
		{"A=1\n\nB=\"${A\"\n", `.env:3: B: unterminated "${A"`},
		{"B=${NO:-${C:-x}\n", `.env:1: B: unterminated "${NO:-${C:-x}"`},
		{"B=${NO:-${C:-x\n", `.env:1: B: unterminated "${C:-x"`},
		{"B=${\n", `.env:1: B: unterminated "${"`},
		{"B=\"${A:-x\"}\"\n", `.env:1: B: unterminated "${A:-x"`},
		{"B=${NO:-x #}\n", `.env:1: B: unterminated "${NO:-x"`},
		{"B=${1}\n", `.env:1: B: bad substitution "${1}"`},
		{"B=${}\n", `.env:1: B: bad substitution "${}"`},
		{"B=${A.B}\n", `.env:1: B: bad substitution "${A.B}"`},
		{"B=${A:?required}\n", `.env:1: B: "${A:?required}": only ${NAME}, ${NAME:-default} and ${NAME-default} are supported`},
		{"B=${A:+alt}\n", `only ${NAME}`},
		{"B=${A:=x}\n", `only ${NAME}`},
		{"B=" + strings.Repeat("${N:-", maxExpandDepth+1) + "z" + strings.Repeat("}", maxExpandDepth+1) + "\n", `.env:1: B: "${N:-z}}}}}}}}}}}}}}}}}": defaults nested more than 16 deep`},
	} {
		_, err := ParseDotenv(strings.NewReader(c.src), ".env", nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.src, err, c.want)
		}
	}
}

func TestArgvDefaults(t *testing.T) {
	env := []string{"PORT=5000", "EMPTY=", "NAME=a b"}
	for _, c := range []struct {
		cmd  string
		want []string
	}{
		{`app --port ${PORT:-3000}`, []string{"app", "--port", "5000"}},
		{`app --port ${NOPE:-${PORT}}`, []string{"app", "--port", "5000"}},
		{`app ${NOPE:-x y} "${NOPE-$NAME}"`, []string{"app", "x y", "a b"}},
		{`app ${EMPTY-unused}. ${EMPTY:-used}`, []string{"app", ".", "used"}},
		{`app '${NOPE:-${PORT}'`, []string{"app", "${NOPE:-${PORT}"}},
		{`app ${NOPE:-a\}b}`, []string{"app", "a}b"}},
	} {
		got, err := splitCommand(c.cmd, env, false)
		if err != nil || strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%s: got %q %v, want %q", c.cmd, got, err, c.want)
		}
	}
	for _, c := range []struct{ cmd, want string }{
		{`app ${NOPE:-${PORT}`, `unterminated "${NOPE:-${PORT}"`},
		{`app ${PORT`, `unterminated "${PORT"`},
		{`app ${1}`, `bad substitution "${1}"`},
		{`app ${PORT:?unset}`, `only ${NAME}, ${NAME:-default} and ${NAME-default}`},
	} {
		if got, err := splitCommand(c.cmd, env, false); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %q %v, want error %q", c.cmd, got, err, c.want)
		}
	}
	_, err := load(t, "Clusterfile", "[process.web]\ncommand = \"app ${A:-${B}\"\n")
	if err == nil || !strings.Contains(err.Error(), `Clusterfile:2: process.web.command: unterminated "${A:-${B}"`) {
		t.Errorf("Load: %v", err)
	}
}

// A command without a shell splits into the words sh would give: in double
// quotes a backslash stays before any character but $ ` " \ and a line
// break, and outside quotes it drops, so \t is a "t", never a tab.
func TestArgvBackslashesAsSh(t *testing.T) {
	env := []string{"V=a b", "E="}
	for _, cmd := range []string{
		`printf "a\nb"`,
		`grep -E "foo\.bar" "x\ty" "c\\d" "e\$f" "g\"h" 'i\j' k\l a\tb a\nb`,
		`python3 -c "print('a\nb')"`,
		`echo "$V\$V" "\$" "\\" "\'" \' \"`,
		`echo "a\
b" "x\\\y"`,
		`echo pre"$V\q"post "${E:-d\e}" ${E:-d\e} '\\'`,
		"echo \"a\\`b\" \"${E:-a\\\"b}\" ${E:-a\\ b} \"\\\\$V\" \"\\\\\\$V\"",
	} {
		p := &Process{Name: "p", Command: cmd}
		got, err := p.Argv(env)
		if err != nil {
			t.Errorf("%s: %v", cmd, err)
			continue
		}
		sh := exec.Command("/bin/sh", "-c", "set -- "+cmd+`; printf '%s\0' "$@"`)
		sh.Env = env
		out, err := sh.Output()
		if err != nil {
			t.Fatalf("sh: %s: %v", cmd, err)
		}
		want := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
		if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
			t.Errorf("%s:\n got %q\nwant %q", cmd, got, want)
		}
	}
}
