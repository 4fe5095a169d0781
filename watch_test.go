package main

import (
	"testing"
)

// A type's watch_ignore holds for the directories above a path too, as the
// watcher's own pruning does: "dist" ignores dist/b.js.
func TestMatchesIgnoresDirectories(t *testing.T) {
	p := watchedType{watch: []string{"**/*.js"}, ignore: []string{"dist", "gen/**", "**/*.test.js"}}
	for path, want := range map[string]bool{
		"src/a.js":       true,
		"dist/b.js":      false,
		"dist/sub/c.js":  false,
		"distant/b.js":   true,
		"gen/x.js":       false,
		"src/gen/x.js":   true,
		"src/a.test.js":  false,
		"src/a.css":      false,
		"sub/dist/b.js":  true,
		"./dist/deep.js": false,
	} {
		if got := matches(p, []string{path}); got != want {
			t.Errorf("matches(%q) = %v, want %v", path, got, want)
		}
	}
}
