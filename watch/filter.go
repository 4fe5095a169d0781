package watch

import (
	"bufio"
	"bytes"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// filter decides which paths count and which directories are pruned. It is
// owned by the goroutine that walks (New, then Run); its gitignore rules are
// refreshed every time a directory is read.
type filter struct {
	include []glob
	ignore  []glob
	// gitignore holds each directory's .gitignore rules, keyed by the
	// directory's path relative to the root ("" for the root itself).
	gitignore map[string][]gitRule
	// outer holds the rules of .gitignore files above the root, up to the
	// top of the git work tree, already rebased onto root-relative paths.
	outer []gitRule
}

func newFilter(root string, include, ignore []string) *filter {
	f := &filter{gitignore: make(map[string][]gitRule)}
	for _, p := range include {
		f.include = append(f.include, compileWatch(p))
	}
	for _, p := range ignore {
		f.ignore = append(f.ignore, compileGlob(p))
	}
	f.outer = outerGitignore(root)
	return f
}

// isEditorTemp reports whether name is a file editors create and delete
// around a save, or write while a file is open (vim's swap files and its
// "4913" write probe, backup files, Emacs lock and autosave files,
// JetBrains' safe-write copies, Kate's swap files). A save made of these
// plus the real file must look like a change of the real file only.
func isEditorTemp(name string) bool {
	switch {
	case name == "4913",
		strings.HasSuffix(name, ".swp"),
		strings.HasSuffix(name, ".swx"),
		vimSwap(name),
		strings.HasSuffix(name, ".kate-swp"),
		strings.HasSuffix(name, "~"),
		strings.HasPrefix(name, ".#"),
		len(name) > 1 && strings.HasPrefix(name, "#") && strings.HasSuffix(name, "#"),
		strings.HasSuffix(name, "___jb_tmp___"),
		strings.HasSuffix(name, "___jb_old___"):
		return true
	}
	return false
}

// vimSwap reports whether name is one of the swap files vim falls back to
// when .swp is taken (a second session, a stale swap file): .main.go.swo,
// then .swn and down; vim writes them as you type.
func vimSwap(name string) bool {
	n := len(name)
	return n > 5 && name[0] == '.' && name[n-4:n-1] == ".sw" && name[n-1] >= 'a' && name[n-1] <= 'p'
}

// prune reports whether the directory rel (relative to the root, not "")
// must be neither walked nor watched.
func (f *filter) prune(rel string) bool {
	name := path.Base(rel)
	if name == ".git" || name == "node_modules" || isEditorTemp(name) {
		return true
	}
	for _, g := range f.ignore {
		if g.match(rel) {
			return true
		}
	}
	return f.gitIgnored(rel, true)
}

// counts reports whether a change of the non-directory rel belongs in a batch.
func (f *filter) counts(rel string) bool {
	if isEditorTemp(path.Base(rel)) {
		return false
	}
	for _, g := range f.ignore {
		if g.match(rel) {
			return false
		}
	}
	if f.gitIgnored(rel, false) {
		return false
	}
	if len(f.include) == 0 {
		return true
	}
	for _, g := range f.include {
		if g.match(rel) {
			return true
		}
	}
	return false
}

// gitIgnored applies the .gitignore files from rel's own directory up to the
// root and beyond it: the deepest file with a matching rule decides, and
// within a file the last matching rule wins (git's precedence).
func (f *filter) gitIgnored(rel string, isDir bool) bool {
	dir := path.Dir(rel)
	if dir == "." {
		dir = ""
	}
	for {
		if rules := f.gitignore[dir]; len(rules) > 0 {
			sub := rel
			if dir != "" {
				sub = rel[len(dir)+1:]
			}
			if ignored, ok := lastMatch(rules, sub, isDir); ok {
				return ignored
			}
		}
		if dir == "" {
			break
		}
		dir = path.Dir(dir)
		if dir == "." {
			dir = ""
		}
	}
	ignored, _ := lastMatch(f.outer, rel, isDir)
	return ignored
}

func lastMatch(rules []gitRule, rel string, isDir bool) (ignored, ok bool) {
	for i := len(rules) - 1; i >= 0; i-- {
		r := rules[i]
		if r.dirOnly && !isDir {
			continue
		}
		if r.glob.match(rel) {
			return !r.negate, true
		}
	}
	return false, false
}

// loadGitignore reads dir/.gitignore (abs is its absolute path, rel its path
// from the root) and replaces that directory's rules, so that an edited or
// deleted .gitignore takes effect on the next walk of the directory.
func (f *filter) loadGitignore(abs, rel string) {
	data, err := os.ReadFile(filepath.Join(abs, ".gitignore"))
	if err != nil {
		delete(f.gitignore, rel)
		return
	}
	if rules := parseGitignore(data); len(rules) > 0 {
		f.gitignore[rel] = rules
	} else {
		delete(f.gitignore, rel)
	}
}

// forget drops the rules of rel and of every directory below it.
func (f *filter) forget(rel string) {
	for d := range f.gitignore {
		if isWithin(d, rel) {
			delete(f.gitignore, d)
		}
	}
}

// gitRule is one line of a .gitignore, compiled to a glob relative to the
// directory holding the file.
type gitRule struct {
	glob    glob
	negate  bool
	dirOnly bool
}

// parseGitignore follows gitignore(5): '#' comments, '!' negation, a trailing
// '/' for directories only, and a pattern with a '/' before its end is
// anchored to the file's directory while one without matches at any depth.
func parseGitignore(data []byte) []gitRule {
	var rules []gitRule
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		line = trimTrailingSpaces(line)
		var r gitRule
		if line[0] == '!' {
			r.negate = true
			line = line[1:]
		} else if strings.HasPrefix(line, `\!`) || strings.HasPrefix(line, `\#`) {
			line = line[1:]
		}
		if strings.HasSuffix(line, "/") {
			r.dirOnly = true
			line = strings.TrimRight(line, "/")
		}
		if line == "" {
			continue
		}
		anchored := strings.Contains(line, "/")
		line = strings.TrimLeft(line, "/")
		if !anchored {
			line = "**/" + line
		}
		r.glob = compileGlob(line)
		rules = append(rules, r)
	}
	return rules
}

// trimTrailingSpaces removes unescaped trailing spaces, as git does.
func trimTrailingSpaces(s string) string {
	for strings.HasSuffix(s, " ") && !strings.HasSuffix(s, `\ `) {
		s = s[:len(s)-1]
	}
	if strings.HasSuffix(s, `\ `) {
		s = s[:len(s)-2] + " "
	}
	return s
}

// outerGitignore collects the .gitignore files between the root and the top
// of its git work tree (the nearest ancestor holding .git), so that watching
// a subdirectory of a repository honours the repository's ignores too. Each
// rule is rebased to match paths relative to the root.
func outerGitignore(root string) []gitRule {
	var dirs []string
	top := ""
	for d := root; ; {
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
			top = d
			break
		}
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
		dirs = append(dirs, d)
	}
	if top == "" || top == root {
		return nil
	}
	var rules []gitRule
	// From the top down, so that deeper files' rules come later and win.
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		data, err := os.ReadFile(filepath.Join(d, ".gitignore"))
		if err != nil {
			continue
		}
		off, err := filepath.Rel(d, root)
		if err != nil {
			continue
		}
		offSegs := strings.Split(filepath.ToSlash(off), "/")
		for _, r := range parseGitignore(data) {
			for _, segs := range rebase(r.glob.segs, offSegs) {
				rules = append(rules, gitRule{glob: glob{segs: segs}, negate: r.negate, dirOnly: r.dirOnly})
			}
		}
	}
	return rules
}

// rebase turns a pattern written for directory D into the patterns that
// match the same paths below D/off, relative to D/off, by consuming off's
// segments from the front. A pattern that matches only off or its ancestors
// yields nothing: it cannot apply inside the root.
func rebase(pats, off []string) [][]string {
	if len(off) == 0 {
		if len(pats) == 0 {
			return nil
		}
		return [][]string{pats}
	}
	if len(pats) == 0 {
		return nil
	}
	if pats[0] == "**" {
		// "**" may swallow all of off (and go on inside the root), match
		// nothing of it, or swallow one segment and decide again.
		out := [][]string{pats}
		out = append(out, rebase(pats[1:], off)...)
		return append(out, rebase(pats, off[1:])...)
	}
	if !matchSegment(pats[0], off[0]) {
		return nil
	}
	return rebase(pats[1:], off[1:])
}

// isWithin reports whether rel is dir or below it ("" is the root and
// contains everything).
func isWithin(rel, dir string) bool {
	return dir == "" || rel == dir || strings.HasPrefix(rel, dir+"/")
}
