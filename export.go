package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cluster-run/cluster/export"
)

// exportFlagKinds says which format each format-specific flag belongs to.
var exportFlagKinds = map[string]string{
	"bin": "systemd", "watchdog": "systemd",
	"image": "kubernetes", "clusterfile-path": "kubernetes", "health-port": "kubernetes",
}

func cmdExport(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("export", "systemd|kubernetes|procfile [DIR] [-f FILE] [flags]", stdout)
	file := fs.String("f", "", "the Clusterfile or Procfile (default: Clusterfile, else Procfile)")
	bin := fs.String("bin", "", "systemd: path of the cluster binary in ExecStart (default: this binary)")
	watchdog := fs.Duration("watchdog", 0, "systemd: WatchdogSec, e.g. 30s (default: no watchdog)")
	image := fs.String("image", "", "kubernetes: container image (default: NAME:latest)")
	inPod := fs.String("clusterfile-path", "", "kubernetes: where the Clusterfile is inside the image (default: /app/ and its name)")
	healthPort := fs.Int("health-port", export.DefaultHealthPort, "kubernetes: the port of cluster run --health, which the probes use")
	pos, code := parseFlags(fs, args, stderr)
	if code >= 0 {
		return code
	}
	if len(pos) < 1 || len(pos) > 2 {
		fmt.Fprintln(stderr, "cluster export: want systemd|kubernetes|procfile [DIR] (see \"cluster export -h\")")
		return 2
	}
	kind, dir := pos[0], ""
	if len(pos) == 2 {
		dir = pos[1]
	}
	if kind != "systemd" && kind != "kubernetes" && kind != "procfile" {
		fmt.Fprintf(stderr, "cluster export: unknown format %q: want systemd, kubernetes or procfile\n", kind)
		return 2
	}
	misplaced := ""
	fs.Visit(func(f *flag.Flag) {
		if k, ok := exportFlagKinds[f.Name]; ok && k != kind && misplaced == "" {
			misplaced = fmt.Sprintf("cluster export: --%s is for %s, not %s", f.Name, k, kind)
		}
	})
	if misplaced != "" {
		fmt.Fprintln(stderr, misplaced)
		return 2
	}
	if *watchdog < 0 {
		fmt.Fprintf(stderr, "cluster export: --watchdog %s: want a positive duration\n", *watchdog)
		return 2
	}
	if *healthPort < 1 || *healthPort > 65535 {
		fmt.Fprintf(stderr, "cluster export: --health-port %d: want 1-65535\n", *healthPort)
		return 2
	}
	cfg, ok := loadConfig("export", *file, stderr)
	if !ok {
		return 2
	}
	var files map[string]string
	var err error
	switch kind {
	case "systemd":
		b := *bin
		if b == "" {
			if b, err = os.Executable(); err != nil {
				fmt.Fprintf(stderr, "cluster export: %v (use --bin)\n", err)
				return 2
			}
		}
		// systemd takes an absolute path or a bare name it looks up itself,
		// never "./bin/cluster".
		if strings.ContainsRune(b, '/') && !filepath.IsAbs(b) {
			if b, err = filepath.Abs(b); err != nil {
				fmt.Fprintf(stderr, "cluster export: --bin: %v\n", err)
				return 2
			}
		}
		files, err = export.Systemd(cfg, export.SystemdOptions{Bin: b, Watchdog: *watchdog})
	case "kubernetes":
		wd, _ := os.Getwd() // "": the Secret command names the env files by absolute path
		files, err = export.Kubernetes(cfg, export.KubernetesOptions{
			Image: *image, ClusterfilePath: *inPod, HealthPort: *healthPort, OSEnv: os.Environ(), WorkDir: wd,
		})
	case "procfile":
		text, lost, err := export.Procfile(cfg, os.Environ())
		if err != nil {
			fmt.Fprintf(stderr, "cluster export: %v\n", err)
			return 2
		}
		for _, l := range lost {
			fmt.Fprintf(stderr, "cluster export: %s\n", l)
		}
		if dir == "" {
			fmt.Fprint(stdout, text)
			return 0
		}
		files = map[string]string{"Procfile": text}
	}
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "cluster export: %s\n", line)
		}
		return 2
	}
	if dir == "" {
		// As documented: the current directory, said before anything is
		// written there, and each file as ./NAME.
		wd, err := os.Getwd()
		if err != nil {
			wd = "."
		}
		fmt.Fprintf(stderr, "cluster export: no DIR given: writing into the current directory, %s\n", wd)
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintf(stderr, "cluster export: %v\n", err)
		return 1
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := filepath.Join(dir, n)
		if dir == "." {
			p = "./" + n
		}
		if err := os.WriteFile(p, []byte(files[n]), 0o644); err != nil {
			fmt.Fprintf(stderr, "cluster export: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "wrote %s\n", p)
	}
	return 0
}
