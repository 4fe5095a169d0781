package watch

import (
	"hash/maphash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// fileState is what a rescan or a poll compares: size and mtime, and a
// content hash when Options.Hash asks for one.
type fileState struct {
	size  int64
	mtime int64
	hash  uint64
}

// tree is the snapshot of the watched part of the root: every directory
// that is walked (and, with inotify, watched) maps to the counting files
// directly inside it. Its keys are therefore also the set of watched
// directories.
type tree map[string]map[string]fileState

// drop removes rel and every directory below it, appending their files to
// gone. It returns the directories removed.
func (t tree) drop(rel string, gone *[]string) []string {
	var dirs []string
	for d, files := range t {
		if !isWithin(d, rel) {
			continue
		}
		for name := range files {
			*gone = append(*gone, join(d, name))
		}
		delete(t, d)
		dirs = append(dirs, d)
	}
	return dirs
}

// diff appends to changed every file that differs between old and new
// (created, deleted, or with another state), limited to directories within
// sub.
func diff(old, new tree, sub string, changed *[]string) {
	for d, nfiles := range new {
		ofiles := old[d]
		for name, st := range nfiles {
			if ost, ok := ofiles[name]; !ok || ost != st {
				*changed = append(*changed, join(d, name))
			}
		}
	}
	for d, ofiles := range old {
		if !isWithin(d, sub) {
			continue
		}
		nfiles := new[d]
		for name := range ofiles {
			if _, ok := nfiles[name]; !ok {
				*changed = append(*changed, join(d, name))
			}
		}
	}
}

// join builds a root-relative path.
func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// walker reads directories into a tree. It is used by the initial walk, by
// new directories, by rescans and by polls; visit, when set, runs on each
// directory before it is read, which is where inotify watches are added so
// that nothing created in between is missed.
type walker struct {
	root   string
	filter *filter
	hash   bool
	seed   maphash.Seed
	visit  func(abs, rel string)
	// unvisit undoes visit for a directory that could not be read.
	unvisit func(rel string)
}

// walk reads rel and everything below it that is not pruned into t. rel is
// not checked against the filter: the caller decided to walk it. A
// directory that cannot be read (it vanished, no permission) is skipped.
func (w *walker) walk(rel string, t tree) {
	abs := w.abs(rel)
	if w.visit != nil {
		w.visit(abs, rel)
	}
	w.filter.loadGitignore(abs, rel)
	entries, err := os.ReadDir(abs)
	if err != nil {
		// Gone since visit watched it (renamed right after it was made, as
		// tools publish a directory): the watch must go too, or it would
		// outlive it under its old name and take over the directory's new
		// one, whose events would then all carry the old name.
		if w.unvisit != nil {
			w.unvisit(rel)
		}
		return
	}
	files := make(map[string]fileState)
	t[rel] = files
	for _, e := range entries {
		crel := join(rel, e.Name())
		if e.IsDir() {
			if w.filter.prune(crel) {
				continue
			}
			w.walk(crel, t)
			continue
		}
		if !w.filter.counts(crel) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed since ReadDir
		}
		files[e.Name()] = w.state(filepath.Join(abs, e.Name()), info)
	}
}

func (w *walker) abs(rel string) string {
	if rel == "" {
		return w.root
	}
	return filepath.Join(w.root, filepath.FromSlash(rel))
}

func (w *walker) state(abs string, info fs.FileInfo) fileState {
	st := fileState{size: info.Size(), mtime: info.ModTime().UnixNano()}
	if w.hash && info.Mode().IsRegular() {
		st.hash = w.hashFile(abs)
	}
	return st
}

func (w *walker) hashFile(abs string) uint64 {
	f, err := os.Open(abs)
	if err != nil {
		return 0
	}
	defer f.Close()
	var h maphash.Hash
	h.SetSeed(w.seed)
	if _, err := io.Copy(&h, f); err != nil {
		return 0
	}
	return h.Sum64()
}
