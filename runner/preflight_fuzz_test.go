package runner

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/cluster-run/cluster/procfile"
)

// FuzzCheckImpliesRun is `cluster check`'s promise as a property: for any
// Clusterfile, if Load and Preflight accept it (check exits 0), New accepts
// it too (run starts). Listen addresses are moved to unix sockets in a
// temporary directory, distinct addresses to distinct sockets, so binding
// cannot fail for reasons outside the file (a port in use on the machine)
// while a clash inside the file still does.
func FuzzCheckImpliesRun(f *testing.F) {
	f.Add([]byte("[process.web]\ncommand = \"sleep 1\"\nworkers = 2\nlisten = \":8080\"\n"))
	f.Add([]byte("[process.a]\ncommand = \"sleep 1\"\nlisten = \":8080\"\n[process.b]\ncommand = \"sleep 1\"\nlisten = \"0.0.0.0:8080\"\n"))
	f.Add([]byte("[process.a]\ncommand = \"sleep 1\"\nlisten = [\":8080\", \":8080\"]\n"))
	f.Add([]byte("[process.a]\ncommand = \"sh -c 'echo $PORT'\"\nsocket = \"proxy\"\nlisten = \"127.0.0.1:9000\"\nready = { http = \"/\" }\n"))
	f.Add([]byte("[process.a]\ncommand = \"sleep 1\"\nuser = \"root\"\ndir = \"sub\"\n"))
	f.Add([]byte("[process.a]\ncommand = \"sleep 1\"\nworkers = 0\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "Clusterfile")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Skip()
		}
		cfg, err := procfile.Load(path)
		if err != nil {
			return
		}
		socks := t.TempDir()
		moved := map[string]string{}
		for _, p := range cfg.Processes {
			for i, a := range p.Listen {
				key := canonical(a)
				if _, ok := moved[key]; !ok {
					moved[key] = filepath.Join(socks, strconv.Itoa(len(moved))+".sock")
				}
				p.Listen[i] = procfile.Address{Network: "unix", Addr: moved[key], Raw: "unix:" + moved[key]}
			}
		}
		opts := Options{Config: cfg, Self: "/bin/true"}
		if err := Preflight(opts); err != nil {
			return
		}
		r, err := New(opts)
		if err != nil {
			t.Fatalf("check accepts, run refuses: %v\n%s", err, data)
		}
		r.Close()
	})
}

// canonical names what a listen address binds, so that ":8080" and
// "0.0.0.0:8080" count as the same socket.
func canonical(a procfile.Address) string {
	if a.Network == "unix" {
		return "unix " + a.Addr
	}
	host, port := a.Addr, ""
	if i := lastColon(a.Addr); i >= 0 {
		host, port = a.Addr[:i], a.Addr[i+1:]
	}
	if host == "" || host == "0.0.0.0" || host == "[::]" {
		host = "*"
	}
	return a.Network + " " + host + ":" + port
}

func lastColon(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ':' {
			return i
		}
	}
	return -1
}
