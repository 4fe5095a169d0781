package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/cluster-run/cluster/runner"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"cluster":    main,
		"testworker": testWorker,
		"sigcount":   sigCount,
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
			if wd, err := os.Getwd(); err == nil {
				env.Vars = append(env.Vars, "NODE_SERVER="+wd+"/examples/node/server.js")
			}
			// A script that fails midway leaves its background runner behind
			// (testscript interrupts only the sh that started it): kill it,
			// and its workers die with it.
			work := env.WorkDir
			env.Defer(func() {
				b, _ := os.ReadFile(work + "/runner.pid")
				for _, f := range strings.Fields(string(b)) {
					if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
						syscall.Kill(pid, syscall.SIGKILL)
					}
				}
			})
			return nil
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "root":
				return os.Getuid() == 0, nil
			case "unshare":
				_, err := os.Stat("/usr/bin/unshare")
				return err == nil && os.Getuid() == 0, nil
			case "portable":
				return runner.Portable, nil
			}
			return false, nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitfile":   cmdWaitFile,
			"waitgrep":   cmdWaitGrep,
			"sig":        cmdSig,
			"gone":       cmdGone,
			"httpget":    cmdHTTPGet,
			"load":       cmdLoad,
			"notifysock": cmdNotifySock,
			"deadsock":   cmdDeadSock,
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
		"QUIT": syscall.SIGQUIT, "HUP": syscall.SIGHUP, "TTIN": syscall.SIGTTIN, "TTOU": syscall.SIGTTOU,
		"USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "WINCH": syscall.SIGWINCH}
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

// sigCount is the `-- COMMAND` of TestCtrlCReachesCommandOnce: it writes a
// line to ints.txt per SIGINT it gets, and exits 0 once the file "stop"
// appears.
func sigCount() {
	ints := make(chan os.Signal, 8)
	signal.Notify(ints, syscall.SIGINT)
	os.WriteFile("cmd.ready", []byte("1"), 0o644)
	f, err := os.OpenFile("ints.txt", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		os.Exit(3)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	for {
		select {
		case <-ints:
			f.WriteString("INT\n")
		case <-tick.C:
			if _, err := os.Stat("stop"); err == nil {
				os.Exit(0)
			}
		}
	}
}

// testWorker is an HTTP worker for the scripts: it serves the socket at fd 3
// (LISTEN_FDS) or 127.0.0.1:$PORT, answers "NAME PID", says "listening" when
// it serves, and drains on SIGTERM the way a well-behaved app does.
func testWorker() {
	var ln net.Listener
	var err error
	if os.Getenv("LISTEN_FDS") != "" {
		if os.Getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) {
			fmt.Println("LISTEN_PID is not my pid")
			os.Exit(3)
		}
		ln, err = net.FileListener(os.NewFile(3, "listener"))
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
	}
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	if mb, _ := strconv.Atoi(os.Getenv("ALLOC_MB")); mb > 0 {
		ballast := make([]byte, mb<<20)
		for i := 0; i < len(ballast); i += 4096 { // one write per page makes it resident (fast under -race)
			ballast[i] = 1
		}
		defer func() { _ = ballast[0] }()
	}
	name := os.Getenv("CLUSTER_PROCESS") + "." + os.Getenv("CLUSTER_WORKER")
	var unread atomic.Int64
	var fresh sync.Map
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// HEALTHZ_FILE: /healthz answers 503 until that file exists, then 200, and says so.
			if f := os.Getenv("HEALTHZ_FILE"); f != "" && r.URL.Path == "/healthz" {
				code := http.StatusServiceUnavailable
				if _, err := os.Stat(f); err == nil {
					code = http.StatusOK
				}
				fmt.Println(name, "healthz", code)
				w.WriteHeader(code)
				return
			}
			fmt.Fprintf(w, "%s %d\n", name, os.Getpid())
		}),
		ConnState: func(c net.Conn, st http.ConnState) {
			if st == http.StateNew {
				unread.Add(1)
				fresh.Store(c, true)
			} else if _, ok := fresh.LoadAndDelete(c); ok {
				unread.Add(-1)
			}
		},
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	signal.Ignore(syscall.SIGHUP)
	drained := make(chan struct{})
	served := make(chan struct{}) // Serve returned: every accepted connection has passed its StateNew hook
	go func() {
		<-sigs
		ln.Close()
		<-served
		for d := time.Now().Add(time.Second); unread.Load() > 0 && time.Now().Before(d); {
			time.Sleep(time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		close(drained)
	}()
	fmt.Println(name, "listening")
	err = srv.Serve(ln)
	close(served)
	if !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		fmt.Println(err)
		os.Exit(1)
	}
	<-drained
}

// ! httpget URL: until a request to URL fails (connection refused).
// httpget URL [REGEX]: poll until URL answers 200 (and its body matches REGEX).
func cmdHTTPGet(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: httpget URL [REGEX]")
	}
	var re *regexp.Regexp
	if len(args) == 2 {
		re = regexp.MustCompile(args[1])
	}
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(scriptTimeout)
	var last string
	if neg { // ! httpget URL: poll until the URL stops answering
		for time.Now().Before(deadline) {
			resp, err := client.Get(args[0])
			if err != nil {
				return
			}
			resp.Body.Close()
			time.Sleep(20 * time.Millisecond)
		}
		ts.Fatalf("%s still answers after %s", args[0], scriptTimeout)
	}
	for time.Now().Before(deadline) {
		resp, err := client.Get(args[0])
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(b)
			if resp.StatusCode == 200 && (re == nil || re.MatchString(last)) {
				fmt.Fprint(ts.Stdout(), last)
				return
			}
		} else {
			last = err.Error()
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.Fatalf("%s did not answer as wanted within %s; last: %s", args[0], scriptTimeout, last)
}

// load URL N [hup PIDFILE]: N requests on fresh connections from 8
// goroutines; fails on any error; prints how many distinct workers answered.
// With hup, SIGHUP (a rolling reload) goes to the pid in PIDFILE after every
// quarter of the requests; with cp, SRC is saved over DST (written aside and
// renamed, as editors do) after the first quarter.
func cmdLoad(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 && !(len(args) == 4 && args[2] == "hup") && !(len(args) == 5 && args[2] == "cp") {
		ts.Fatalf("usage: load URL N [hup PIDFILE | cp SRC DST]")
	}
	n, _ := strconv.Atoi(args[1])
	var hupPid int
	if len(args) == 4 {
		hupPid = readPids(ts, args[3])[0]
	}
	var save sync.Once
	saveAt := int64(-1)
	if len(args) == 5 {
		saveAt = int64(n / 4)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var mu sync.Mutex
	workers := map[string]int{}
	var errs []error
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				if hupPid > 0 && i%int64(n/4) == 0 {
					syscall.Kill(hupPid, syscall.SIGHUP)
				}
				if i == saveAt {
					// As an editor saves: a new file renamed over the old.
					save.Do(func() {
						data, err := os.ReadFile(ts.MkAbs(args[3]))
						if err == nil {
							tmp := ts.MkAbs(args[4]) + ".tmp"
							if err = os.WriteFile(tmp, data, 0o644); err == nil {
								err = os.Rename(tmp, ts.MkAbs(args[4]))
							}
						}
						if err != nil {
							mu.Lock()
							errs = append(errs, err)
							mu.Unlock()
						}
					})
				}
				resp, err := client.Get(args[0])
				var body []byte
				if err == nil {
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else if f := strings.Fields(string(body)); len(f) > 0 {
					workers[f[0]]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	fmt.Fprintf(ts.Stdout(), "requests %d errors %d workers %d\n", n, len(errs), len(workers))
	if len(errs) > 0 {
		ts.Fatalf("%d failed requests, first: %v", len(errs), errs[0])
	}
}

// notifysock PATH OUT: listen on the unix datagram socket PATH, as systemd's
// NOTIFY_SOCKET, and append every message to OUT until the script ends.
func cmdNotifySock(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: notifysock PATH OUT")
	}
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: ts.MkAbs(args[0]), Net: "unixgram"})
	ts.Check(err)
	out, err := os.OpenFile(ts.MkAbs(args[1]), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	ts.Check(err)
	ts.Defer(func() { ln.Close() })
	go func() {
		defer out.Close()
		buf := make([]byte, 4096)
		for {
			n, _, err := ln.ReadFromUnix(buf)
			if err != nil {
				return
			}
			out.Write(append(buf[:n:n], "---\n"...))
		}
	}()
}

// deadsock PATH: bind the unix datagram socket PATH, as a NOTIFY_SOCKET
// receiver that stopped reading, with its queue already full: a datagram
// sent to it waits until the script ends.
func cmdDeadSock(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: deadsock PATH")
	}
	closeAll, err := stalledReceiver(ts.MkAbs(args[0]))
	ts.Check(err)
	ts.Defer(closeAll)
}

// stalledReceiver binds a datagram socket at path that is never read, and
// fills its queue: senders write until one that has sent nothing yet
// cannot send either (the queue is full, not that sender's buffer).
// closeAll closes the receiver and the senders.
func stalledReceiver(path string) (closeAll func(), err error) {
	addr := &net.UnixAddr{Name: path, Net: "unixgram"}
	ln, err := net.ListenUnixgram("unixgram", addr)
	if err != nil {
		return nil, err
	}
	conns := []*net.UnixConn{ln}
	closeAll = func() {
		for _, c := range conns {
			c.Close()
		}
	}
	for range 1000 {
		c, err := net.DialUnix("unixgram", nil, addr)
		if err != nil {
			closeAll()
			return nil, err
		}
		conns = append(conns, c)
		sent := 0
		for {
			c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
			if _, err := c.Write([]byte("FILL=1\n")); err != nil {
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					closeAll()
					return nil, err
				}
				break
			}
			sent++
		}
		if sent == 0 {
			return closeAll, nil
		}
	}
	closeAll()
	return nil, errors.New("the receiver's queue never filled")
}
