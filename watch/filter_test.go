package watch

import (
	"os"
	"path/filepath"
	"testing"
)

func TestEditorTemp(t *testing.T) {
	for _, name := range []string{"4913", ".main.go.swp", ".main.go.swx", "main.go~", ".#main.go", "#main.go#", "main.go___jb_tmp___", "main.go___jb_old___",
		".main.go.swo", ".main.go.swn", ".main.go.swa", "main.go.kate-swp"} {
		if !isEditorTemp(name) {
			t.Errorf("isEditorTemp(%q) = false, want true", name)
		}
	}
	for _, name := range []string{"main.go", "49130", "#", "swp", "a.swp.go", "main#",
		"query.sql", "main.swo", ".main.go.swq", ".swo", "style.scss"} {
		if isEditorTemp(name) {
			t.Errorf("isEditorTemp(%q) = true, want false", name)
		}
	}
}

func TestGitignoreRules(t *testing.T) {
	f := newFilter(t.TempDir(), nil, nil)
	f.gitignore[""] = parseGitignore([]byte(`
# comment
*.log
!keep.log
/top-only
build/
docs/**/*.tmp
\#literal
trailing   
`))
	f.gitignore["sub"] = parseGitignore([]byte("/anchored\nkeep.log\n!*.log\n"))

	tests := []struct {
		rel   string
		isDir bool
		want  bool
	}{
		{"a.log", false, true},
		{"x/y/a.log", false, true},
		{"keep.log", false, false},
		{"x/keep.log", false, false},
		{"top-only", false, true},
		{"x/top-only", false, false},
		{"build", true, true},
		{"x/build", true, true},
		{"build", false, false}, // a file named build: "build/" is for directories
		{"docs/a.tmp", false, true},
		{"docs/x/y/a.tmp", false, true},
		{"other/a.tmp", false, false},
		{"#literal", false, true},
		{"trailing", false, true},
		{"comment", false, false},
		// The deeper .gitignore wins over the root one, in both directions.
		{"sub/anchored", false, true},
		{"sub/x/anchored", false, false},
		{"sub/keep.log", false, false},
		{"sub/x/keep.log", false, false},
		{"sub/other.log", false, false},
	}
	for _, tt := range tests {
		if got := f.gitIgnored(tt.rel, tt.isDir); got != tt.want {
			t.Errorf("gitIgnored(%q, dir=%v) = %v, want %v", tt.rel, tt.isDir, got, tt.want)
		}
	}
}

func TestFilterIncludeIgnore(t *testing.T) {
	f := newFilter(t.TempDir(), []string{"src/**/*.js", "package.json"}, []string{"**/*.test.js", "dist/**"})
	counts := map[string]bool{
		"src/app.js":       true,
		"src/a/b/app.js":   true,
		"src/app.test.js":  false,
		"package.json":     true,
		"README.md":        false,
		"dist/app.js":      false,
		"src/.app.js.swp":  false,
		"src/app.js~":      false,
		"lib/package.json": false,
	}
	for rel, want := range counts {
		if got := f.counts(rel); got != want {
			t.Errorf("counts(%q) = %v, want %v", rel, got, want)
		}
	}
	prune := map[string]bool{
		"dist":              true,
		"src":               false,
		".git":              true,
		"a/node_modules":    true,
		"node_modules_x":    false,
		"src/node_modules":  true,
		"src/dist":          false,
		"a/.git":            true,
		"src/components":    false,
		"src/components/ui": false,
	}
	for rel, want := range prune {
		if got := f.prune(rel); got != want {
			t.Errorf("prune(%q) = %v, want %v", rel, got, want)
		}
	}
}

// A root inside a repository honours the .gitignore files above it.
func TestOuterGitignore(t *testing.T) {
	top := t.TempDir()
	mustMkdir(t, filepath.Join(top, ".git"))
	mustWrite(t, filepath.Join(top, ".gitignore"), "*.log\n/web/dist\n/other\n**/gen\nweb/**/*.tmp\n!web/keep.log\n")
	mustMkdir(t, filepath.Join(top, "web", "src"))
	mustWrite(t, filepath.Join(top, "web", ".gitignore"), "cache/\n")
	root := filepath.Join(top, "web", "src")

	f := newFilter(root, nil, nil)
	tests := []struct {
		rel   string
		isDir bool
		want  bool
	}{
		{"a.log", false, true},    // unanchored rule from the top
		{"x/a.log", false, true},  //
		{"dist", true, false},     // /web/dist is not below web/src
		{"gen", true, true},       // **/gen reaches inside
		{"x/gen", true, true},     //
		{"a.tmp", false, true},    // web/**/*.tmp
		{"x/a.tmp", false, true},  //
		{"cache", true, true},     // web/.gitignore
		{"a.go", false, false},    //
		{"keep.log", false, true}, // !web/keep.log re-includes web/keep.log, not web/src/keep.log
		{"other", true, false},    //
	}
	for _, tt := range tests {
		if got := f.gitIgnored(tt.rel, tt.isDir); got != tt.want {
			t.Errorf("gitIgnored(%q, dir=%v) = %v, want %v", tt.rel, tt.isDir, got, tt.want)
		}
	}
}

func mustMkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, file, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
