package main

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"cluster": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs testdata/script/*.txtar against the real binary.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("NO_COLOR", "")
			env.Vars = append(env.Vars, "HOME="+env.WorkDir)
			return nil
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "root":
				return os.Getuid() == 0, nil
			case "unshare":
				_, err := os.Stat("/usr/bin/unshare")
				return err == nil && os.Getuid() == 0, nil
			}
			return false, nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitfile": cmdWaitFile,
			"waitgrep": cmdWaitGrep,
			"sig":      cmdSig,
			"gone":     cmdGone,
		},
	})
}

const scriptTimeout = 15 * time.Second

// waitfile FILE: poll until FILE exists and is not empty.
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: waitfile FILE")
	}
	path := ts.MkAbs(args[0])
	deadline := time.Now().Add(scriptTimeout)
	for time.Now().Before(deadline) {
		if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	ts.Fatalf("%s did not appear within %s", args[0], scriptTimeout)
}

// waitgrep REGEX FILE: poll until FILE has a match for REGEX.
func cmdWaitGrep(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: waitgrep REGEX FILE")
	}
	re := regexp.MustCompile(args[0])
	path := ts.MkAbs(args[1])
	deadline := time.Now().Add(scriptTimeout)
	var last []byte
	for time.Now().Before(deadline) {
		last, _ = os.ReadFile(path)
		if re.Match(last) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	ts.Fatalf("no match for %q in %s within %s; it holds:\n%s", args[0], args[1], scriptTimeout, last)
}

// sig SIGNAL PIDFILE: send a signal to the pid written in PIDFILE.
func cmdSig(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: sig SIGNAL PIDFILE")
	}
	sigs := map[string]syscall.Signal{"TERM": syscall.SIGTERM, "INT": syscall.SIGINT, "KILL": syscall.SIGKILL,
		"QUIT": syscall.SIGQUIT, "HUP": syscall.SIGHUP, "TTIN": syscall.SIGTTIN, "TTOU": syscall.SIGTTOU}
	s, ok := sigs[args[0]]
	if !ok {
		ts.Fatalf("unknown signal %s", args[0])
	}
	for _, pid := range readPids(ts, args[1]) {
		ts.Check(syscall.Kill(pid, s))
	}
}

// gone PIDFILE...: every pid listed in the files is gone within 1s.
func cmdGone(ts *testscript.TestScript, neg bool, args []string) {
	var pids []int
	for _, f := range args {
		pids = append(pids, readPids(ts, f)...)
	}
	if len(pids) == 0 {
		ts.Fatalf("gone: no pids in %v", args)
	}
	deadline := time.Now().Add(time.Second)
	for {
		var left []int
		for _, pid := range pids {
			if alive(pid) {
				left = append(left, pid)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("still running after 1s: %v", left)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive: the pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && !strings.HasPrefix(string(b[i+1:]), " Z")
}

func readPids(ts *testscript.TestScript, file string) []int {
	b, err := os.ReadFile(ts.MkAbs(file))
	ts.Check(err)
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		n, err := strconv.Atoi(f)
		if err != nil {
			ts.Fatalf("%s: %q is not a pid", file, f)
		}
		pids = append(pids, n)
	}
	return pids
}
