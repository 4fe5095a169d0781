package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/cluster-run/cluster/runner"
)

// Where the control socket of a cluster lives, in SPEC's order:
//
//  1. $CLUSTER_SOCKET;
//  2. .cluster.sock beside the Clusterfile, when that directory is writable;
//  3. $XDG_RUNTIME_DIR/cluster/NAME-HASH.sock;
//  4. /tmp/cluster-UID/NAME-HASH.sock, the directory 0700 and ours;
//  5. on Linux, @cluster-UID-NAME-HASH in the abstract namespace: no file,
//     so no directory at all is needed (docker run --read-only, where /tmp
//     is read-only too); its HASH also covers the directory's device and
//     inode (abstractHash).
//
// 4 is the literal /tmp, not $TMPDIR: a runner and a client started with
// different TMPDIRs (macOS's per-user /var/folders, ssh, cron, sudo,
// nix-shell) must still find each other.
//
// NAME is the Clusterfile directory's name (its first 16 bytes) and HASH a
// digest of its absolute path, both with symlinks resolved (a runner started
// through a link and a client in the real directory meet), so that clients
// find it without reading the Clusterfile. Clients look in the same order
// and trust a socket only when it is owned by their UID or root (an
// abstract one: held by them, SO_PEERCRED): a socket planted in a shared
// directory is skipped, never talked to. A read-only root filesystem
// (readOnlyRootFilesystem) never stops `cluster run`: with no place at all
// (no abstract namespace: macOS, FreeBSD) it runs without a control socket
// and says so.

// sharedTmp is where the last candidate lives, whatever $TMPDIR says.
const sharedTmp = "/tmp"

// socketCandidates lists the places for the cluster whose Clusterfile is in dir.
func socketCandidates(dir string) []string {
	if p := os.Getenv("CLUSTER_SOCKET"); p != "" {
		return []string{p}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	// The real path: /plink, a link to /p, is the same cluster as /p.
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	sum := sha256.Sum256([]byte(abs))
	name := filepath.Base(abs)
	if len(name) > 16 {
		name = name[:16] // a unix socket path is at most 104-108 bytes
	}
	id := name + "-" + hex.EncodeToString(sum[:4])
	uid := strconv.Itoa(os.Getuid())
	out := []string{filepath.Join(abs, ".cluster.sock")}
	if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" && filepath.IsAbs(x) {
		out = append(out, filepath.Join(x, "cluster", id+".sock"))
	}
	out = append(out, filepath.Join(sharedTmp, "cluster-"+uid, id+".sock"))
	if runner.AbstractNamespace {
		out = append(out, "@cluster-"+uid+"-"+name+"-"+abstractHash(abs))
	}
	return out
}

// abstractHash is HASH for the abstract name: of the path and of the
// directory's device and inode. Names are shared by the network namespace,
// not the file system: two containers of one pod (one network namespace)
// with the same image each have their own /app, and their own name; a
// client that sees the same directory (docker exec, a systemd service's
// PrivateTmp) computes the same one.
func abstractHash(abs string) string {
	key := abs
	if fi, err := os.Stat(abs); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			key += "\x00" + strconv.FormatUint(uint64(st.Dev), 10) + ":" + strconv.FormatUint(uint64(st.Ino), 10)
		}
	}
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:4])
}

// trusted reports whether an existing file at path may be used as our
// control socket: a socket owned by us or root. ok is false when nothing is
// there.
func trusted(path string) (exists bool, err error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return true, err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return true, fmt.Errorf("%s is not a socket", path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() && st.Uid != 0 {
		return true, fmt.Errorf("%s is owned by uid %d, not by you (uid %d): not trusting it", path, st.Uid, os.Getuid())
	}
	return true, nil
}

// privateDir makes sure dir exists, is a directory (not a link), is ours and
// is closed to others; it creates it 0700 when missing.
func privateDir(dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	case ok && int(st.Uid) != os.Getuid():
		return fmt.Errorf("%s is owned by uid %d, not by you (uid %d)", dir, st.Uid, os.Getuid())
	case fi.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("%s is open to others (mode %o; want 0700)", dir, fi.Mode().Perm())
	}
	return nil
}

// listenControl binds the control socket at the first usable place. With
// none, the cluster runs without one (NoControl), saying why and what to
// do; only a CLUSTER_SOCKET that cannot be bound stops it, as asked for.
//
// A runner of this Clusterfile already running anywhere a client would
// look refuses this one (a second `cluster run` here is exit 2), whichever
// place this one would take: the first runner may have bound another place
// than this one would (its XDG_RUNTIME_DIR, or the directory was read-only
// then), and may be another user's (.cluster.sock is everyone's first
// place). An abstract name refuses it only when a runner there is seen to
// be ours (SO_PEERCRED): any user may bind any name, and one held with a
// full backlog, whose owner cannot be told, must not stop every start
// here. A runner that binds past .cluster.sock also answers at the
// abstract name (Linux), which every client and runner looks at, so that
// one without its XDG_RUNTIME_DIR finds it too.
func listenControl(dir string) (*runner.ControlServer, error) {
	if p := os.Getenv("CLUSTER_SOCKET"); p != "" {
		return runner.ListenControl(p)
	}
	cands := socketCandidates(dir)
	for i, path := range cands {
		if i > 0 && !runner.IsAbstract(path) {
			if _, err := trusted(path); err != nil {
				continue // not ours: clients skip it too
			}
		}
		if err := runner.CheckControl(path); err != nil {
			return nil, err
		}
	}
	var skipped []string
	for i, path := range cands {
		abstract := runner.IsAbstract(path)
		if !abstract {
			parent := filepath.Dir(path)
			if i == 0 {
				if err := unix.Access(parent, unix.W_OK); err != nil {
					skipped = append(skipped, fmt.Sprintf("%s: %v", parent, err))
					continue
				}
			} else if err := privateDir(parent); err != nil {
				skipped = append(skipped, err.Error())
				continue
			}
			if _, err := trusted(path); err != nil {
				skipped = append(skipped, err.Error())
				continue
			}
		}
		ctl, err := runner.ListenControl(path)
		if errors.Is(err, runner.ErrClusterRunning) {
			return nil, err
		}
		if err != nil {
			skipped = append(skipped, err.Error())
			continue
		}
		if last := cands[len(cands)-1]; i > 0 && !abstract && runner.IsAbstract(last) {
			if err := ctl.AlsoAt(last); errors.Is(err, runner.ErrClusterRunning) {
				ctl.Close()
				return nil, err
			}
		}
		return ctl, nil
	}
	return runner.NoControl(noPlace(skipped)), nil
}

// noPlace is the warning of a cluster that runs without a control socket.
func noPlace(skipped []string) string {
	return fmt.Sprintf("no place for the control socket (%s): this cluster runs, but cluster status, logs, attach, "+
		"reload, restart, scale, signal, stop and start cannot reach it (SIGHUP reloads it, SIGTERM stops it); "+
		"to have one, set CLUSTER_SOCKET to a path in a writable directory or XDG_RUNTIME_DIR to a writable directory, "+
		"or make /tmp writable (docker run --tmpfs /tmp)", strings.Join(skipped, "; "))
}

// findControl returns the socket a client should talk to: the first trusted
// one in the lookup order that answers. A planted socket is skipped, never
// talked to, and so is a stale one (a killed runner's, in a directory that
// became read-only, with the live runner at the next place); each is said
// why if nothing else answers. One that cannot be reached (another user's
// runner) is the error when nothing else answers.
func findControl(dir string) (string, error) {
	cands := socketCandidates(dir)
	var skipped []string
	var blocked error
	for _, path := range cands {
		if !runner.IsAbstract(path) {
			exists, err := trusted(path)
			if err != nil {
				skipped = append(skipped, err.Error())
				continue
			}
			if !exists {
				continue
			}
		}
		p, uid, err := runner.ProbeControl(path)
		switch {
		case p == runner.ProbeLive && runner.IsAbstract(path) && uid != os.Getuid() && uid != 0:
			skipped = append(skipped, fmt.Sprintf("%s is held by uid %d, not by you (uid %d): not trusting it", path, uid, os.Getuid()))
		case p == runner.ProbeLive:
			return path, nil
		case p == runner.ProbeStale:
			skipped = append(skipped, path+" refuses connections (left by a runner that was killed)")
		case p == runner.ProbeBlocked:
			if blocked == nil {
				blocked = fmt.Errorf("control socket %s%s cannot be reached: %v", path, ownedBy(uid), err)
			}
		}
	}
	if blocked != nil {
		return "", blocked
	}
	if len(skipped) > 0 {
		return "", fmt.Errorf("%w (no control socket answers at %s; %s)", runner.ErrNotRunning, strings.Join(cands, ", "), strings.Join(skipped, "; "))
	}
	return "", fmt.Errorf("%w (no control socket at %s)", runner.ErrNotRunning, strings.Join(cands, ", "))
}

// ownedBy names the owner of a socket when it is not the user.
func ownedBy(uid int) string {
	if uid < 0 || uid == os.Getuid() {
		return ""
	}
	return fmt.Sprintf(", owned by uid %d,", uid)
}
