package runner

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cluster-run/cluster/procfile"
)

// dirOfLen makes a directory whose absolute path is n bytes long.
func dirOfLen(t *testing.T, n int) string {
	t.Helper()
	base := t.TempDir()
	name := n - len(base) - 1
	if name < 1 || name > 255 {
		t.Fatalf("cannot make a %d-byte directory under %s", n, base)
	}
	dir := filepath.Join(base, strings.Repeat("d", name))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A control socket path the kernel binds is bound, also on macOS and
// FreeBSD (-tags portable), where the socket is bound at a temporary name
// first: that name is never longer than the limit when the final path is
// within it (it was up to 27 bytes longer than the directory, and an
// 89-byte CLUSTER_SOCKET failed with "bind: invalid argument" on macOS).
// One longer is refused up front with its length, the limit and the path.
func TestControlSocketPathLength(t *testing.T) {
	max := procfile.UnixPathMax
	for _, n := range []int{max - 20, max - 7, max} {
		t.Run(fmt.Sprintf("%d bytes", n), func(t *testing.T) {
			dir := dirOfLen(t, n-len("/c.sock"))
			path := filepath.Join(dir, "c.sock")
			ctl, err := ListenControl(path)
			if err != nil {
				t.Fatalf("ListenControl(%d bytes): %v", len(path), err)
			}
			defer ctl.Close()
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("socket: %v %v", fi, err)
			}
			c, err := net.Dial("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("left in %s: %v, want c.sock only", dir, entries)
			}
		})
	}
	t.Run("one byte over", func(t *testing.T) {
		dir := dirOfLen(t, max+1-len("/c.sock"))
		path := filepath.Join(dir, "c.sock")
		_, err := ListenControl(path)
		want := fmt.Sprintf("control socket path too long (%d bytes, at most %d): %s: set CLUSTER_SOCKET to a shorter path", max+1, max, path)
		if err == nil || err.Error() != want {
			t.Fatalf("ListenControl = %v\nwant %s", err, want)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("left in %s: %v", dir, entries)
		}
	})
}

// Where the socket is bound at a temporary name first (macOS, FreeBSD), a
// final name shorter than that name's overhead lowers the limit: the
// limit named is the one that holds, and a path within it binds.
func TestControlSocketShortNameLimit(t *testing.T) {
	if !Portable {
		t.Skip("Linux binds the socket in place: no temporary name")
	}
	max := bindMax("/s")
	if max >= procfile.UnixPathMax {
		t.Fatalf("bindMax(a 1-byte name) = %d: the temporary name fits in no less room", max)
	}
	dir := dirOfLen(t, max-len("/s"))
	ctl, err := ListenControl(filepath.Join(dir, "s"))
	if err != nil {
		t.Fatalf("ListenControl at %d bytes: %v", max, err)
	}
	ctl.Close()
	dir = dirOfLen(t, max+1-len("/s"))
	path := filepath.Join(dir, "s")
	_, err = ListenControl(path)
	want := fmt.Sprintf("control socket path too long (%d bytes, at most %d): %s", max+1, max, path)
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("ListenControl = %v\nwant %s", err, want)
	}
}
