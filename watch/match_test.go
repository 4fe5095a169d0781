package watch

import "testing"

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          bool
	}{
		{"main.go", "main.go", true},
		{"main.go", "cmd/main.go", false},
		{"*.go", "main.go", true},
		{"*.go", "cmd/main.go", false},
		{"*.go", ".hidden.go", true},
		{"*", "", false},
		{"**", "", true},
		{"**", "a/b/c", true},
		{"**/*.go", "main.go", true},
		{"**/*.go", "a/b/main.go", true},
		{"**/*.go", "a/b/main.js", false},
		{"src/**/*.js", "src/app.js", true},
		{"src/**/*.js", "src/a/b/app.js", true},
		{"src/**/*.js", "lib/app.js", false},
		{"src/**", "src", true},
		{"src/**", "src/a/b", true},
		{"src/**", "srcx/a", false},
		{"dist/**", "dist", true},
		{"dist", "dist", true},
		{"dist", "dist/a", false},
		{"a/**/b/**/c", "a/b/c", true},
		{"a/**/b/**/c", "a/x/y/b/z/c", true},
		{"a/**/b/**/c", "a/x/y/z/c", false},
		{"**/node_modules/**", "x/node_modules/y/z", true},
		{"a**b", "axxb", true},
		{"a**b", "ax/xb", false},
		{"?.go", "a.go", true},
		{"?.go", "ab.go", false},
		{"?", "/", false},
		{"??", "é!", true},
		{"*.[ch]", "x.c", true},
		{"*.[ch]", "x.h", true},
		{"*.[ch]", "x.o", false},
		{"[a-c]x", "bx", true},
		{"[a-c]x", "dx", false},
		{"[!a-c]x", "dx", true},
		{"[!a-c]x", "ax", false},
		{"[^a-c]x", "ax", false},
		{"[]]", "]", true},
		{"[a-]", "-", true},
		{"[", "[", true},
		{"[ab", "[ab", true},
		{`\*`, "*", true},
		{`\*`, "x", false},
		{`[\]]`, "]", true},
		{"*x*y*", "axbxcy", true},
		{"*x*y*", "axbxc", false},
		{"a*", "a", true},
		{"*a", "bba", true},
		{"./src/*.go", "src/a.go", true},
		{"/src/*.go", "src/a.go", true},
		{"src/", "src", true},
		{"src/*.go", "./src/a.go", true},
		{"package.json", "package.json", true},
		{"**/*.test.js", "src/a.test.js", true},
		{"**/*.test.js", "src/a.js", false},
	}
	for _, tt := range tests {
		if got := Match(tt.pattern, tt.path); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.path, got, tt.want)
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	g := compileGlob("src/**/*.test.js")
	for b.Loop() {
		g.match("src/components/deep/nested/widget.test.js")
	}
}
