// Command hello is the demo worker of Clusterfile.example: an HTTP server that
// serves the socket it inherits at fd 3 (systemd socket activation, what
// cluster's socket = "inherit" passes) or, without one, 127.0.0.1:$PORT
// (socket = "proxy", or run alone). It answers with its worker name and pid,
// and drains gracefully on SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	crashAfter := flag.Duration("crash-after", 0, "exit with status 3 after this long (to watch restarts)")
	ignoreTerm := flag.Bool("ignore-term", false, "ignore SIGTERM (to watch stop_timeout at work)")
	bindSelf := flag.String("bind-self", "", "bind this address itself instead of using fd 3 (to see the 'address in use' hint)")
	flag.Parse()
	log.SetFlags(0)

	ln, err := listener(*bindSelf)
	if err != nil {
		log.Fatal(err)
	}
	name := os.Getenv("CLUSTER_PROCESS") + "." + os.Getenv("CLUSTER_WORKER")
	if name == "." {
		name = "hello"
	}

	// Draining properly: stop accepting first, let connections already
	// accepted be read, then Shutdown (net/http drops a request it reads
	// after Shutdown began). Connections still queued in the shared socket
	// go to the other workers.
	var unread, open atomic.Int64
	var fresh sync.Map
	srv := &http.Server{
		Handler: handler(name),
		ConnState: func(c net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				unread.Add(1)
				open.Add(1)
				fresh.Store(c, true)
			case http.StateActive, http.StateClosed, http.StateHijacked:
				if _, ok := fresh.LoadAndDelete(c); ok {
					unread.Add(-1)
				}
				if st != http.StateActive {
					open.Add(-1)
				}
			}
		},
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	if *ignoreTerm {
		signal.Ignore(syscall.SIGTERM)
	}
	drained := make(chan struct{})
	served := make(chan struct{}) // Serve returned: every accepted connection has passed its StateNew hook
	go func() {
		<-sigs
		fmt.Println("draining")
		ln.Close()
		// Serve may have accepted a connection whose StateNew hook has not
		// run yet: unread would read 0 and Shutdown would not see it. Once
		// Serve has returned, every accepted connection is counted.
		<-served
		// Keep-alive clients: answer their next request with
		// "Connection: close" instead of closing under them, so they
		// reconnect (to another worker) without an error.
		srv.SetKeepAlivesEnabled(false)
		for deadline := time.Now().Add(time.Second); (unread.Load() > 0 || open.Load() > 0) && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		close(drained)
	}()
	if *crashAfter > 0 {
		time.AfterFunc(*crashAfter, func() {
			fmt.Fprintln(os.Stderr, "crashing on purpose (-crash-after)")
			os.Exit(3)
		})
	}
	fmt.Printf("%s listening on %s\n", name, ln.Addr())
	notify("READY=1")
	err = srv.Serve(ln)
	close(served)
	if !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		log.Fatal(err)
	}
	<-drained
	fmt.Println("drained, bye")
}

func handler(name string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if d, err := time.ParseDuration(r.URL.Query().Get("sleep")); err == nil && d > 0 {
			time.Sleep(d)
		}
		fmt.Fprintf(w, "hello from %s pid %d\n", name, os.Getpid())
	})
	return mux
}

// listener takes fd 3 when cluster (or systemd) passed sockets, else binds
// 127.0.0.1:$PORT.
func listener(bindSelf string) (net.Listener, error) {
	if bindSelf != "" {
		return net.Listen("tcp", bindSelf)
	}
	if n, _ := strconv.Atoi(os.Getenv("LISTEN_FDS")); n > 0 {
		if pid := os.Getenv("LISTEN_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
			return nil, fmt.Errorf("LISTEN_PID %s is not this process (%d)", pid, os.Getpid())
		}
		for _, k := range []string{"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"} {
			os.Unsetenv(k) // not for our children
		}
		f := os.NewFile(3, "listener")
		defer f.Close()
		return net.FileListener(f)
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	return net.Listen("tcp", "127.0.0.1:"+port)
}

// notify sends an sd_notify message when NOTIFY_SOCKET is set.
func notify(msg string) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return
	}
	if path[0] == '@' {
		path = "\x00" + path[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return
	}
	defer c.Close()
	c.Write([]byte(msg))
}
