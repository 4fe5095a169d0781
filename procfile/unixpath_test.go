package procfile

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// A listen = "unix:..." path the kernel cannot bind (longer than sun_path
// allows) is a configuration error naming file, line, key and the limit,
// so `cluster check` catches what `cluster run` would fail on with "bind:
// invalid argument". A relative path counts as bound: resolved against the
// Clusterfile's directory.
func TestUnixListenPathTooLong(t *testing.T) {
	dir := t.TempDir()
	room := UnixPathMax - len(dir) - 1 // what a relative path may add
	cases := []struct {
		name, rel string
		ok        bool
	}{
		{"relative, at the limit", strings.Repeat("r", room), true},
		{"relative, one byte over", strings.Repeat("r", room+1), false},
		{"relative, short but deep", strings.Repeat("d/", room/2) + "s.sock", false},
		{"absolute, one byte over", "/" + strings.Repeat("a", UnixPathMax), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := write(t, dir, "Clusterfile", fmt.Sprintf("[process.web]\ncommand = \"x\"\nlisten = \"unix:%s\"\n", c.rel))
			_, err := LoadWith(path, nil, 1)
			if c.ok {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			abs := c.rel
			if !filepath.IsAbs(abs) {
				abs = filepath.Join(dir, abs)
			}
			want := fmt.Sprintf("Clusterfile:3: process.web.listen: %q: %s is %d bytes; a unix socket path is at most %d here", "unix:"+c.rel, abs, len(abs), UnixPathMax)
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("Load = %v\nwant %s", err, want)
			}
			if UnixPathMax == 107 && !strings.HasSuffix(err.Error(), "(103 on macOS and FreeBSD)") {
				t.Errorf("the Linux error does not give macOS's and FreeBSD's limit: %v", err)
			}
		})
	}
}
