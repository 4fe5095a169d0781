package main

import (
	"fmt"
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// openTerminal returns the follower side of a new pseudo-terminal: a stdout
// that is a terminal, so --color auto depends on NO_COLOR alone.
func openTerminal(t *testing.T) *os.File {
	leader, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { leader.Close() })
	if err := unix.IoctlSetPointerInt(int(leader.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(leader.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// no-color.org: NO_COLOR disables colour only when it is set to a non-empty
// value; an empty NO_COLOR is the same as none.
func TestNoColorNeedsAValue(t *testing.T) {
	tty := openTerminal(t)
	if !isTerminal(tty) {
		t.Fatal("the pseudo-terminal is not a terminal")
	}
	tests := []struct {
		mode    string
		noColor *string
		want    bool
	}{
		{"auto", nil, true},
		{"auto", ptr(""), true},
		{"auto", ptr("1"), false},
		{"auto", ptr("0"), false}, // any non-empty value
		{"always", ptr("1"), true},
		{"never", nil, false},
	}
	t.Setenv("NO_COLOR", "") // restores the variable at the end
	for _, tt := range tests {
		if tt.noColor == nil {
			os.Unsetenv("NO_COLOR")
		} else {
			os.Setenv("NO_COLOR", *tt.noColor)
		}
		if got := useColor(tt.mode, tty); got != tt.want {
			t.Errorf("--color %s with NO_COLOR %v: colour %v, want %v", tt.mode, describe(tt.noColor), got, tt.want)
		}
	}
}

func ptr(s string) *string { return &s }

func describe(s *string) string {
	if s == nil {
		return "unset"
	}
	return fmt.Sprintf("%q", *s)
}
