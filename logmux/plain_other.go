//go:build !amd64 || purego

package logmux

func plainJSON(b []byte) int { return plainJSONGo(b) }
