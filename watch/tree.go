package watch

import (
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
// sub, and adds those new has and old has not to born.
func diff(old, new tree, sub string, changed *[]string, born map[string]struct{}) {
	for d, nfiles := range new {
		ofiles := old[d]
		for name, st := range nfiles {
			if ost, ok := ofiles[name]; !ok || ost != st {
				*changed = append(*changed, join(d, name))
				if !ok {
					born[join(d, name)] = struct{}{}
				}
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
	// links maps each symlink to a directory that was walked (by its
	// root-relative path) to that directory's real path. The watcher
	// forgets the ones below what it drops or walks again.
	links map[string]string
	// rootReal is the root's real path ("" when unknown): links into the
	// root are checked against the filter by where they lead.
	rootReal string
	// warn receives the warning of a link followed no further; warned
	// holds the links it named, so that polls do not repeat it.
	warn   func(string)
	warned map[string]bool
	// maxLinkDirs replaces linkCap in tests.
	maxLinkDirs int
}

// linkCap bounds the directories one walk reaches through symlinks (the
// kqueue descriptor budget): a link to /usr, or links that cross into each
// other, would otherwise make the walk, and every poll, as big as they lead.
const linkCap = 4096

// walkState is what one walk (the initial one, a rescan, a poll, a new
// directory) keeps while it runs.
type walkState struct {
	// seen holds the real paths of the directories walked: a link met
	// below another link that leads to one of them is not walked again, or
	// directories linked into each other would be walked once per path
	// through the links, which grows factorially.
	seen map[string]bool
	// linkDirs counts the directories reached through links.
	linkDirs int
}

// walk reads rel and everything below it that is not pruned into t. rel is
// not checked against the filter: the caller decided to walk it. A
// directory that cannot be read (it vanished, no permission) is skipped;
// so is a symlink that dirLink does not follow.
func (w *walker) walk(rel string, t tree) {
	st := &walkState{seen: map[string]bool{}}
	via := ""
	for l := range w.links {
		if isWithin(rel, l) && l != rel && len(l) > len(via) {
			via = l
		}
	}
	if rel != "" {
		if fi, err := os.Lstat(w.abs(rel)); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			real, ok := w.dirLink(rel)
			if !ok || w.linkPruned(real) {
				return
			}
			if via == "" {
				via = rel
			}
			w.links[rel] = real
		}
	}
	real, err := filepath.EvalSymlinks(w.abs(rel))
	if err != nil {
		real = ""
	}
	w.walkDir(rel, real, via, t, st)
}

// walkDir reads rel, whose real path is real ("" when unknown), and what is
// below it. via is the outermost symlink on the way to rel, "" for none.
func (w *walker) walkDir(rel, real, via string, t tree, st *walkState) {
	if via != "" {
		if st.linkDirs >= w.linkCap() {
			w.capped(via)
			return
		}
		st.linkDirs++
	}
	if real != "" {
		st.seen[real] = true
	}
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
		if e.Type()&fs.ModeSymlink != 0 && isDirPath(filepath.Join(abs, e.Name())) {
			if w.filter.prune(crel) {
				continue
			}
			target, ok := w.dirLink(crel)
			if !ok || w.linkPruned(target) {
				continue
			}
			// Below a link, a link to a directory walked already is not
			// walked again: its files count under the name walked.
			if via != "" && st.seen[target] {
				continue
			}
			top := via
			if top == "" {
				top = crel
			}
			if st.linkDirs >= w.linkCap() {
				w.capped(top)
				continue
			}
			w.links[crel] = target
			w.walkDir(crel, target, top, t, st)
			continue
		}
		if e.IsDir() {
			if w.filter.prune(crel) {
				continue
			}
			creal := ""
			if real != "" {
				creal = filepath.Join(real, e.Name())
			}
			w.walkDir(crel, creal, via, t, st)
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

func (w *walker) linkCap() int {
	if w.maxLinkDirs > 0 {
		return w.maxLinkDirs
	}
	return linkCap
}

// capped warns, once per link, that the link leads to more directories
// than one walk follows.
func (w *walker) capped(link string) {
	if w.warned == nil || w.warned[link] {
		return
	}
	w.warned[link] = true
	if w.warn != nil {
		w.warn(fmt.Sprintf("watch: %s: more than %d directories reached through symbolic links; the rest of %s is not watched", w.abs(link), w.linkCap(), link))
	}
}

// linkPruned reports whether the real path of a linked directory lies in
// the root at a path that is pruned (watch_ignore, .gitignore, .git,
// node_modules) or below one: a link must not watch again what the
// ignores leave out.
func (w *walker) linkPruned(real string) bool {
	if w.rootReal == "" || !withinPath(real, w.rootReal) {
		return false
	}
	r, err := filepath.Rel(w.rootReal, real)
	if err != nil || r == "." {
		return false
	}
	for p := filepath.ToSlash(r); p != ""; p = parentDir(p) {
		if w.filter.prune(p) {
			return true
		}
	}
	return false
}

// isDirPath reports whether abs is a directory or a symlink to one.
func isDirPath(abs string) bool {
	fi, err := os.Stat(abs)
	return err == nil && fi.IsDir()
}

// dirLink reports whether the symlink rel to a directory is one to follow:
// the directory (inside the root or not) is neither one of rel's
// ancestors, as reached through the links on the way, nor above one, where
// walking it would come back to rel for ever. It returns the directory's
// real path. (A link to a file counts as a file, a dangling one too.)
func (w *walker) dirLink(rel string) (string, bool) {
	abs := w.abs(rel)
	if !isDirPath(abs) {
		return "", false
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", false
	}
	for p := rel; p != ""; {
		p = parentDir(p)
		up, err := filepath.EvalSymlinks(w.abs(p))
		if err != nil || withinPath(up, real) {
			return "", false
		}
	}
	return real, true
}

// parentDir is the root-relative directory holding rel ("" for the root).
func parentDir(rel string) string {
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		return rel[:i]
	}
	return ""
}

// withinPath reports whether the real path p is dir or below it.
func withinPath(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, string(filepath.Separator))+string(filepath.Separator))
}

// realDir is the real path of the walked directory rel, from the links
// followed on the way to it ("" when the root's own is unknown).
func (w *walker) realDir(rel, rootReal string) string {
	best := ""
	for l := range w.links {
		if isWithin(rel, l) && len(l) > len(best) {
			best = l
		}
	}
	if best == "" {
		if rootReal == "" {
			return ""
		}
		return filepath.Join(rootReal, filepath.FromSlash(rel))
	}
	return filepath.Join(w.links[best], filepath.FromSlash(strings.TrimPrefix(rel[len(best):], "/")))
}

// aliases lists the other names under which the walked directory rel is in
// t: a directory reached both directly and through a symlink, or through
// two. inotify watches it once, under one of them.
func (w *walker) aliases(rel, rootReal string, t tree) []string {
	if len(w.links) == 0 {
		return nil
	}
	real := w.realDir(rel, rootReal)
	if real == "" {
		return nil
	}
	var out []string
	add := func(base, target string) {
		if !withinPath(real, target) {
			return
		}
		rest, err := filepath.Rel(target, real)
		if err != nil {
			return
		}
		a := base
		if rest != "." {
			a = join(base, filepath.ToSlash(rest))
		}
		if _, ok := t[a]; ok && a != rel && !slices.Contains(out, a) && w.realDir(a, rootReal) == real {
			out = append(out, a)
		}
	}
	if rootReal != "" {
		add("", rootReal)
	}
	for l, target := range w.links {
		add(l, target)
	}
	return out
}

// forgetLinks drops the links at rel and below it.
func (w *walker) forgetLinks(rel string) {
	for l := range w.links {
		if isWithin(l, rel) {
			delete(w.links, l)
		}
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
