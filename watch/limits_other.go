//go:build !linux

package watch

func sysctlValue(string) string { return "?" }
