// Command benchwatch measures the watch package on a large tree: the cost of
// New (walk + watches), the watches it holds, the process's RSS, and the
// change-to-batch latency. As a baseline it times what a naive recursive
// watcher does on the same tree: walk everything and watch every directory,
// node_modules included. bench/watch.sh runs it.
//
//	benchwatch build DIR   # create the tree
//	benchwatch run DIR     # measure
package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cluster-run/cluster/watch"
	"github.com/fsnotify/fsnotify"
)

const (
	topDirs     = 50   // each with subDirs below: 50 + 50*39 = 2,000 directories
	subDirs     = 39   //
	filesPerDir = 10   // 20,000 files
	nmPackages  = 2500 // node_modules/pkg and pkg/lib: 5,000 directories
	nmFiles     = 20   // per package, half in lib: 50,000 files
	edits       = 20
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: benchwatch build|run DIR")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "build":
		err = build(os.Args[2])
	case "run":
		err = run(os.Args[2])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchwatch:", err)
		os.Exit(1)
	}
}

func build(root string) error {
	write := func(dir string, n int) error {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		for i := range n {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("file%02d.js", i)), []byte("module.exports = 1\n"), 0o644); err != nil {
				return err
			}
		}
		return nil
	}
	for t := range topDirs {
		top := filepath.Join(root, fmt.Sprintf("src%02d", t))
		if err := write(top, filesPerDir); err != nil {
			return err
		}
		for s := range subDirs {
			if err := write(filepath.Join(top, fmt.Sprintf("mod%02d", s)), filesPerDir); err != nil {
				return err
			}
		}
	}
	for p := range nmPackages {
		pkg := filepath.Join(root, "node_modules", fmt.Sprintf("pkg%04d", p))
		if err := write(pkg, nmFiles/2); err != nil {
			return err
		}
		if err := write(filepath.Join(pkg, "lib"), nmFiles/2); err != nil {
			return err
		}
	}
	return nil
}

func run(root string) error {
	// Warm the dentry cache so both measurements read the same way.
	files, dirs, err := count(root)
	if err != nil {
		return err
	}
	fmt.Printf("tree: %d files in %d directories (node_modules included)\n", files, dirs)

	rssBefore := vmRSS()
	begin := time.Now()
	w, err := watch.New(watch.Options{Root: root, Warn: func(s string) { fmt.Println("warning:", s) }})
	if err != nil {
		return err
	}
	newTime := time.Since(begin)
	watches := w.Watches()
	rssAfter := vmRSS()
	fmt.Printf("watch.New:           %8.1f ms  (initial walk + watches)\n", ms(newTime))
	fmt.Printf("inotify watches:     %8d\n", watches)
	fmt.Printf("VmRSS after setup:   %8d KiB  (%d KiB before New)\n", rssAfter, rssBefore)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var lat []time.Duration
	for i := range edits {
		rel := fmt.Sprintf("src%02d/mod%02d/file%02d.js", i%topDirs, i%subDirs, i%filesPerDir)
		start := time.Now()
		if err := os.WriteFile(filepath.Join(root, rel), fmt.Appendf(nil, "module.exports = %d\n", i), 0o644); err != nil {
			return err
		}
		if err := waitFor(w, rel); err != nil {
			return err
		}
		lat = append(lat, time.Since(start))
	}
	cancel()
	for range w.Batches() {
	}
	if err := <-done; err != nil {
		return err
	}
	slices.Sort(lat)
	fmt.Printf("change->batch (%d edits): min %.1f ms, median %.1f ms, max %.1f ms  (quiet period %v)\n",
		edits, ms(lat[0]), ms(lat[len(lat)/2]), ms(lat[len(lat)-1]), watch.DefaultQuiet)

	naiveTime, naiveWatches, err := naive(root)
	if err != nil {
		return err
	}
	fmt.Printf("baseline, watch every directory: %.1f ms, %d watches\n", ms(naiveTime), naiveWatches)
	fmt.Printf("ratio watch.New/baseline: time %.2f, watches %.2f\n",
		float64(newTime)/float64(naiveTime), float64(watches)/float64(naiveWatches))
	return nil
}

// waitFor waits for a batch holding rel.
func waitFor(w *watch.Watcher, rel string) error {
	timeout := time.After(10 * time.Second)
	for {
		select {
		case b := <-w.Batches():
			if slices.Contains(b.Paths, rel) {
				return nil
			}
		case <-timeout:
			return fmt.Errorf("no batch with %s", rel)
		}
	}
}

// naive is the baseline: a recursive watcher without pruning.
func naive(root string) (time.Duration, int, error) {
	begin := time.Now()
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return 0, 0, err
	}
	defer fw.Close()
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		return fw.Add(p)
	})
	took := time.Since(begin)
	return took, len(fw.WatchList()), err
}

func count(root string) (files, dirs int, err error) {
	err = filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs++
		} else {
			files++
		}
		return nil
	})
	return files, dirs, err
}

// vmRSS reads the process's resident set size in KiB.
func vmRSS() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), &kb)
			return kb
		}
	}
	return -1
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
