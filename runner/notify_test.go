package runner

import (
	"os"
	"os/exec"
	"os/user"
	"testing"
	"time"

	"github.com/cluster-run/cluster/procfile"
)

// ready = { notify = true }: a worker that sends READY=1 to its
// NOTIFY_SOCKET is ready — also one that runs as another user, which must
// be able to write to that socket (it was root's, mode 0700: EACCES).
func TestReadyNotify(t *testing.T) {
	// A python3 every user may run (not one under root's home).
	py, err := exec.LookPath("/usr/bin/python3")
	if err != nil {
		t.Skip("needs /usr/bin/python3 to send a datagram")
	}
	send := `import os, socket, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
try:
    s.sendto(b"STATUS=starting\nREADY=1", os.environ["NOTIFY_SOCKET"])
    print("sent", flush=True)
except OSError as e:
    print("send failed:", e, flush=True)
time.sleep(1000)
`
	for _, who := range []string{"", "nobody"} {
		t.Run("user="+who, func(t *testing.T) {
			if who != "" {
				if os.Getuid() != 0 {
					t.Skip("needs root to run a worker as another user")
				}
				if _, err := user.Lookup(who); err != nil {
					t.Skipf("no user %s", who)
				}
				if Portable {
					// There every terminal worker starts through the exec
					// shim, this test binary, in a directory only root
					// may enter.
					t.Skip("the portable path starts workers through the test binary, which that user cannot run")
				}
			}
			p := shProc("web", "")
			p.Shell, p.Command = false, py+" -c '"+send+"'"
			p.User = who
			p.Ready = procfile.Ready{Kind: procfile.ReadyNotify, Timeout: 10 * time.Second}
			rn := start(t, Options{Config: config(p)})
			rn.waitEvents(t, "web.1 ready", 1, 15*time.Second)
			if lines, _ := rn.rec.snapshot(); len(lines) == 0 || lines[0] != "web.1 stdout: sent" {
				t.Errorf("worker said %q", lines)
			}
		})
	}
}
