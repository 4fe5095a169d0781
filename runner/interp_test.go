package runner

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestInterpreterError(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("noexec", "#!/bin/sh\n", 0o644)
	write("nested.sh", "#!/no/such/bash\n", 0o755)
	write("good.sh", "#!/bin/sh\n", 0o755)
	cases := []struct {
		name, content string
		want          string // "" for no error
	}{
		{"crlf", "#!/bin/sh\r\necho hi\n", `interpreter "/bin/sh\r" not found (a CRLF line ending?)`},
		{"missing", "#!/no/such/bash\necho hi\n", `interpreter "/no/such/bash" not found`},
		{"blanks and args", "#! \t/no/such/env python3 -u\n", `interpreter "/no/such/env" not found`},
		{"crlf with args", "#!/bin/sh -e\r\n", ""}, // the \r goes to the argument: sh says so itself
		{"no newline", "#!/no/such/sh", `interpreter "/no/such/sh" not found`},
		{"good", "#!/bin/sh\necho hi\n", ""},
		{"env", "#!/usr/bin/env sh\n", ""},
		{"not a script", "\x7fELF....", ""},
		{"no interpreter", "#!\n", ""},
		{"relative", "#!noexec\n", `interpreter "noexec" is not an executable file`},
		{"directory", "#!" + dir + "\n", "is not an executable file"},
		{"nested", "#!" + filepath.Join(dir, "nested.sh") + "\n", `interpreter "/no/such/bash" not found`},
		{"nested good", "#!" + filepath.Join(dir, "good.sh") + "\n", ""},
		{"long line", "#!/bin/sh " + strings.Repeat("x", 400) + "\n", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := write(strings.ReplaceAll(tc.name, " ", "_"), tc.content, 0o755)
			err := interpreterError(p, dir)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("interpreterError = %v; want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("interpreterError = %v; want %q", err, tc.want)
			}
		})
	}
	if err := interpreterError(filepath.Join(dir, "absent"), dir); err != nil {
		t.Errorf("a missing file: %v; want nil (exec says)", err)
	}
}

// A failed exec names the file, and the interpreter when that is what is
// missing; the errno stays for callers that test it.
func TestExecErrorNamesPathAndInterpreter(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "crlf.sh")
	os.WriteFile(p, []byte("#!/bin/sh\r\necho hi\n"), 0o755)
	err := execError(p, dir, syscall.ENOENT)
	want := "exec " + p + `: interpreter "/bin/sh\r" not found (a CRLF line ending?)`
	if err.Error() != want || !errors.Is(err, syscall.ENOENT) {
		t.Errorf("execError = %q (ENOENT: %v); want %q", err, errors.Is(err, syscall.ENOENT), want)
	}
	gone := filepath.Join(dir, "gone")
	if err := execError(gone, dir, syscall.ENOENT); err.Error() != "exec "+gone+": no such file or directory" {
		t.Errorf("execError = %q", err)
	}
}

// spawn itself names what it could not run: the file may change between
// the look-up and the fork.
func TestSpawnNamesMissingInterpreter(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "crlf.sh")
	os.WriteFile(p, []byte("#!/bin/sh\r\necho hi\n"), 0o755)
	self, _ := os.Executable()
	_, err := spawn(getReaper(false), spawnSpec{path: p, argv: []string{p}, dir: dir, env: os.Environ(), self: self, noPTY: true,
		output: func(int, bool, [3]func() bool) (stdout, stderr, tty io.WriteCloser) {
			t.Error("spawned")
			return nopCloser{io.Discard}, nopCloser{io.Discard}, nopCloser{io.Discard}
		}})
	if err == nil || !strings.Contains(err.Error(), p+`: interpreter "/bin/sh\r" not found`) {
		t.Errorf("spawn: %v; want the script and its interpreter named", err)
	}
}
