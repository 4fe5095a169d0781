//go:build !linux

package main

// dropCode: elsewhere madvise(MADV_DONTNEED) on a file mapping is only a
// hint, and an idle runner's code pages stay resident.
func dropCode() {}
