package procfile

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// MaxFileSize is the largest Clusterfile, Procfile or dotenv file Load reads.
// Real ones are a few KiB; the bound keeps a wrong -f (a log, a disk image)
// from being read into memory whole.
const MaxFileSize = 1 << 20

// readFile reads a config or dotenv file. It refuses what is not a regular
// file before opening it (a FIFO would block the open, /dev/zero never
// ends), opens without blocking in case the path was swapped in between, and
// reads at most MaxFileSize+1 bytes, so a file that grows is caught too. name
// is how errors call the file.
func readFile(path, name string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := checkRegular(fi, name); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, err
	}
	if err := checkRegular(fi, name); err != nil {
		return nil, err
	}
	return readLimited(f, name)
}

func checkRegular(fi fs.FileInfo, name string) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file (%s)", name, fileKind(fi.Mode()))
	}
	if fi.Size() > MaxFileSize {
		return fmt.Errorf("%s: %s is over the %s limit", name, formatSize(fi.Size()), formatSize(MaxFileSize))
	}
	return nil
}

// readLimited reads r to its end, failing once it passes MaxFileSize.
func readLimited(r io.Reader, name string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("%s: more than the %s limit (it grew while being read)", name, formatSize(MaxFileSize))
	}
	return b, nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return "mode " + m.String()
}

// formatSize renders bytes for messages: "512 B", "1 MiB", "200.5 MiB", or
// the exact count when one decimal would hide the difference ("1048577
// bytes", not "1.0 MiB", is over the 1 MiB limit).
func formatSize(n int64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	u, i := int64(1024), 0
	for n/u >= 1024 && i < len(units)-1 {
		u *= 1024
		i++
	}
	if n%u == 0 {
		return fmt.Sprintf("%d %ciB", n/u, units[i])
	}
	s := fmt.Sprintf("%.1f", float64(n)/float64(u))
	if s[len(s)-2:] == ".0" {
		return fmt.Sprintf("%d bytes", n)
	}
	return s + " " + string(units[i]) + "iB"
}
