package runner

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// shebangMax is how much of a script the kernel reads for its "#!" line
// (BINPRM_BUF_SIZE on Linux).
const shebangMax = 256

// interpreterError reports why the kernel would refuse to run the script
// at path for its "#!" line: an interpreter that does not exist or is not
// executable. exec then fails with a bare ENOENT (or EACCES) that names
// neither the script nor the interpreter; "#!/bin/bash\r", a script saved
// with CRLF line endings, is the usual case. dir is where a relative
// interpreter is taken from (the kernel takes it from the exec'ing
// process's directory). nil when path is no script, cannot be read, or its
// interpreter can run (as far as a look at it tells).
func interpreterError(path, dir string) error {
	for range 4 { // the kernel follows interpreters that are scripts 4 deep
		interp, ok := shebang(path)
		if !ok {
			return nil
		}
		at := interp
		if !filepath.IsAbs(at) {
			at = filepath.Join(dir, at)
		}
		fi, err := os.Stat(at)
		switch {
		case err != nil && errors.Is(err, os.ErrNotExist):
			hint := ""
			if strings.HasSuffix(interp, "\r") {
				hint = " (a CRLF line ending?)"
			}
			return fmt.Errorf("interpreter %q not found%s", interp, hint)
		case err != nil:
			return nil // not ours to diagnose: exec will say
		case fi.IsDir() || fi.Mode()&0o111 == 0:
			return fmt.Errorf("interpreter %q is not an executable file", interp)
		}
		path = at
	}
	return nil
}

// shebang returns the interpreter named by the "#!" line of the file at
// path, split as the kernel splits it: after blanks, up to a blank or the
// end of the line (a carriage return is part of the name).
func shebang(path string) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	buf := make([]byte, shebangMax)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return "", false
	}
	line, ok := bytes.CutPrefix(buf[:n], []byte("#!"))
	if !ok {
		return "", false
	}
	if i := bytes.IndexAny(line, "\n\x00"); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimLeft(line, " \t")
	if i := bytes.IndexAny(line, " \t"); i >= 0 {
		line = line[:i]
	}
	if len(line) == 0 {
		return "", false
	}
	return string(line), true
}

// execError names path in a failed exec's error, which says only "no such
// file or directory" whether the program or its interpreter is missing:
// the interpreter, when that is what is wrong, is named too. dir is where
// the exec ran ("" for this process's directory).
func execError(path, dir string, err error) error {
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.EACCES) {
		if why := interpreterError(path, dir); why != nil {
			return fmt.Errorf("exec %s: %w", path, &interpError{why, err})
		}
	}
	return fmt.Errorf("exec %s: %w", path, err)
}

// interpError says what is wrong with a script's interpreter, and unwraps
// to the errno exec returned.
type interpError struct {
	why   error
	errno error
}

func (e *interpError) Error() string { return e.why.Error() }
func (e *interpError) Unwrap() error { return e.errno }
