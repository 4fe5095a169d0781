//go:build !purego

package logmux

// plainJSON is plainJSONGo, in assembly (plain_amd64.s): the scan that JSON
// lines spend most of their formatting in, sixteen bytes at a time.
//
//go:noescape
func plainJSON(b []byte) int
