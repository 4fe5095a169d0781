//go:build !amd64 || purego

package logmux

// plainJSON is plainJSONGo where there is no assembly version of it.
func plainJSON(b []byte) int { return plainJSONGo(b) }
