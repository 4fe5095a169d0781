package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// One Ctrl-C at the terminal is one SIGINT for `-- COMMAND`: the terminal
// sends it to the whole foreground group, the command included, so the
// runner does not pass its own copy on. (Many tools take a second SIGINT
// as "abort now, skip the clean-up".)
func TestCtrlCReachesCommandOnce(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"cluster", "sigcount"} {
		if err := os.Symlink(self, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "Clusterfile"), []byte("[process.web]\ncommand = \"sleep 1000\"\nworkers = 1\n"), 0o644)
	master, slave := openPTY(t)
	scr := &screen{}
	go scr.read(master)
	cmd := exec.Command(filepath.Join(bin, "cluster"), "run", "--color", "never", "--", "sigcount")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	defer func() {
		cmd.Process.Kill()
		<-done
	}()
	wait := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s within 15s; the terminal shows %q", what, scr.String())
			}
		}
	}
	exists := func(name string) func() bool {
		return func() bool { _, err := os.Stat(filepath.Join(dir, name)); return err == nil }
	}
	wait("cmd.ready", exists("cmd.ready"))
	master.Write([]byte{3}) // Ctrl-C
	// The runner says what it did with its own copy.
	wait("the runner's word on it", func() bool {
		return strings.Contains(scr.String(), "SIGINT came from the terminal, which sent sigcount its own")
	})
	wait("a SIGINT", exists("ints.txt"))
	os.WriteFile(filepath.Join(dir, "stop"), nil, 0o644)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatalf("the runner did not exit; the terminal shows %q", scr.String())
	}
	b, _ := os.ReadFile(filepath.Join(dir, "ints.txt"))
	if n := strings.Count(string(b), "INT"); n != 1 {
		t.Errorf("COMMAND got %d SIGINTs for one Ctrl-C; the terminal shows %q", n, scr.String())
	}
}
