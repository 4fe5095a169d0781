package export

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/cluster-run/cluster/procfile"
)

// DefaultHealthPort is where the Deployment's cluster serves /livez and
// /readyz (`cluster run --health 0.0.0.0:PORT`), a named containerPort
// "health" that the probes use.
const DefaultHealthPort = 9102

// RunnerMemory is what the memory limit grants cluster itself on top of its
// workers' max_memory: its own heap, the output buffers and the proxy.
const RunnerMemory = 64 << 20

// runAsUser is the user the container runs as: "nonroot" of the distroless
// images (the release image's base), so runAsNonRoot holds even for an image
// whose USER is root or a name.
const runAsUser = 65532

// KubernetesOptions are the choices of `cluster export kubernetes`.
type KubernetesOptions struct {
	Image           string   // default: NAME:latest
	ClusterfilePath string   // the file's path inside the image; default /app/ + its base name
	HealthPort      int      // default DefaultHealthPort
	OSEnv           []string // the environment the Config was loaded with: what cfg.Env inherited from it is not the cluster's
	// WorkDir is where the user runs the kubectl command that makes the
	// Secret (where cluster export ran): its --from-env-file paths are
	// relative to it, or absolute outside it. "": all absolute.
	WorkDir string
}

// Kubernetes returns NAME.yaml: a Deployment whose one container runs
// cluster, and a Service per process type with TCP listen addresses.
//
// The probes are cluster's own /readyz and /livez; the grace period is
// shutdown_timeout + Margin; the memory limit is max_memory × workers summed,
// plus RunnerMemory. The root filesystem is read-only, with an emptyDir at
// /tmp (where cluster's control socket goes when the Clusterfile's directory
// is not writable) and at the directory of each unix listen socket. Values of [env] are written; values of env files never
// are: the container takes them from the Secret NAME-env.
func Kubernetes(cfg *procfile.Config, opt KubernetesOptions) (map[string]string, error) {
	name := objectName(cfg.Name)
	if opt.Image == "" {
		opt.Image = name + ":latest"
	}
	if opt.ClusterfilePath == "" {
		opt.ClusterfilePath = path.Join("/app", filepath.Base(cfg.Path))
	}
	if opt.HealthPort == 0 {
		opt.HealthPort = DefaultHealthPort
	}
	if opt.HealthPort < 1 || opt.HealthPort > 65535 {
		return nil, fmt.Errorf("health port %d: want 1-65535", opt.HealthPort)
	}

	var notes []string
	note := func(format string, args ...any) { notes = append(notes, fmt.Sprintf(format, args...)) }

	// Ports: one named containerPort per TCP listen address, a Service per type.
	type port struct {
		name   string
		number int
	}
	type service struct {
		name  string
		ports []port
	}
	var ports []port
	var services []service
	portNames, serviceNames := newNames("Kubernetes port name"), newNames("Kubernetes Service name")
	portNames.add("health", "the health port (--health-port)")
	lowPort := false
	var errs []string
	sockets := newSocketDirs(cfg, name, opt.ClusterfilePath)
	for _, p := range cfg.Processes {
		owner := fmt.Sprintf("process %q", p.Name)
		var svc service
		listed := map[int]bool{} // a port once: the API server refuses a Service's (protocol, port) twice
		for i, a := range p.Listen {
			if a.Network == "unix" {
				note("%s listens on %s: a unix socket gets no port and no Service.", p.Name, oneLine(a.Raw))
				if err := sockets.add(a); err != nil {
					errs = append(errs, fmt.Sprintf("%s listens on %s: %v", owner, a.Raw, err))
				}
				continue
			}
			host, portText, err := net.SplitHostPort(a.Addr)
			n, _ := strconv.Atoi(portText)
			if err != nil || n <= 0 || n > 65535 {
				note("%s listens on %s: no fixed port, so no Service.", p.Name, oneLine(a.Raw))
				continue
			}
			if n == opt.HealthPort {
				errs = append(errs, fmt.Sprintf("%s listens on %s, the health port: choose another with --health-port", owner, a.Raw))
			}
			lowPort = lowPort || n < 1024
			if isLoopback(host) {
				note("%s listens on loopback (%s): a Service cannot reach it, so no port and no Service; listen on \":%d\" in the pod.", p.Name, oneLine(a.Raw), n)
				continue
			}
			if listed[n] {
				continue // another address of the same port: the pod's IP is one of them
			}
			listed[n] = true
			pn := portName(p.Name)
			if len(p.Listen) > 1 {
				pn = portName(p.Name, strconv.Itoa(i+1))
			}
			portNames.add(pn, owner)
			ports = append(ports, port{pn, n})
			svc.ports = append(svc.ports, port{pn, n})
		}
		if len(svc.ports) > 0 {
			svc.name = objectName(cfg.Name, p.Name)
			serviceNames.add(svc.name, owner)
			services = append(services, svc)
		}
	}
	for _, n := range []*names{serviceNames, portNames} {
		if err := n.err(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "\n"))
	}

	env, skipped, err := inlineEnv(cfg, opt.OSEnv)
	if err != nil {
		return nil, err
	}
	fileKeys, err := dotenvKeys(cfg)
	if err != nil {
		return nil, err
	}
	for _, k := range skipped {
		note("[env] %q is not a valid Kubernetes variable name: not listed here (cluster still sets it from the Clusterfile).", k)
	}

	// Memory: what cluster may let its workers use before it replaces one.
	var memory int64
	var counted, uncounted []string
	for _, p := range cfg.Processes {
		switch {
		case p.Workers == 0:
		case p.MaxMemory > 0:
			memory += p.MaxMemory * int64(p.Workers)
			counted = append(counted, fmt.Sprintf("%s %d × %s", p.Name, p.Workers, mebibytes(p.MaxMemory)))
		default:
			uncounted = append(uncounted, p.Name)
		}
		if p.WorkersAuto && p.Workers > 0 && cfg.Format == procfile.FormatClusterfile {
			note("%s: workers = \"auto\" counted %d here; in the pod it is the CPUs the container sees (the node's, not a CPU limit): set workers.", p.Name, p.Workers)
		}
		if p.User != "" {
			note("%s sets user = %q: cluster runs as user %d here and cannot switch users; drop user, or run as root without runAsNonRoot.", p.Name, p.User, runAsUser)
		}
	}

	var sb strings.Builder
	fmt.Fprintf(&sb, "# Generated by \"cluster export kubernetes\" from %s.\n", oneLine(cfg.Path))
	for _, n := range notes {
		fmt.Fprintf(&sb, "# %s\n", n)
	}
	labels := fmt.Sprintf("app: %s", q(name))
	fmt.Fprintf(&sb, `apiVersion: apps/v1
kind: Deployment
metadata:
  name: %s
  labels:
    %s
spec:
  replicas: 1
  selector:
    matchLabels:
      %s
  template:
    metadata:
      labels:
        %s
    spec:
      # shutdown_timeout + %s: cluster finishes its graceful stop before the kubelet's SIGKILL.
      terminationGracePeriodSeconds: %d
`, q(name), labels, labels, labels, Margin, seconds(cfg.ShutdownTimeout+Margin))
	if lowPort {
		sb.WriteString(`      securityContext:
        # A port below 1024 without root: the kernel lets anyone bind it in this pod.
        sysctls:
          - name: net.ipv4.ip_unprivileged_port_start
            value: "0"
`)
	}
	// --no-watch: PID 1 does not watch by default, but a wrapper (tini, sh -c)
	// would make it; a pod never reloads on a file change.
	command := []string{"cluster", "run", "-f", opt.ClusterfilePath, "--no-watch", "--log-format", "json", "--health", "0.0.0.0:" + strconv.Itoa(opt.HealthPort)}
	quoted := make([]string, len(command))
	for i, c := range command {
		quoted[i] = q(c)
	}
	fmt.Fprintf(&sb, `      containers:
        - name: cluster
          image: %s
          # --health on every address: the kubelet probes the pod's IP, not its loopback.
          command: [%s]
          ports:
`, q(opt.Image), strings.Join(quoted, ", "))
	for _, p := range append(ports, port{"health", opt.HealthPort}) {
		fmt.Fprintf(&sb, "            - name: %s\n              containerPort: %d\n", q(p.name), p.number)
	}
	if len(env) > 0 {
		sb.WriteString("          # [env] of the Clusterfile (cluster sets it too, over the pod's environment).\n          env:\n")
		for _, kv := range env {
			fmt.Fprintf(&sb, "            - name: %s\n              value: %s\n", q(kv[0]), q(kv[1]))
		}
	}
	if len(cfg.EnvFiles) > 0 {
		secret := objectName(cfg.Name, "env")
		files, repeated := secretFiles(envFilePaths(cfg, opt.WorkDir), fileKeys)
		words := make([]string, len(files))
		for i, f := range files {
			words[i] = shellWord(f)
		}
		fmt.Fprintf(&sb, "          # The values of %s are never written here: make the Secret from the same files,\n", oneLine(strings.Join(cfg.EnvFiles, ", ")))
		if len(repeated) == 0 {
			fmt.Fprintf(&sb, "          #   kubectl create secret generic %s --from-env-file=%s\n", secret, oneLine(strings.Join(words, " --from-env-file=")))
		} else {
			// kubectl refuses a key twice; awk keeps each key's last line, as
			// kubectl reads one: KEY=value with leading blanks dropped, no comments.
			fmt.Fprintf(&sb, "          # %s define %s more than once, and kubectl refuses a key twice: merge them first, the last value winning as in cluster:\n", oneLine(strings.Join(files, ", ")), strings.Join(repeated, ", "))
			fmt.Fprintf(&sb, "          #   %s %s | kubectl create secret generic %s --from-env-file=/dev/stdin\n", mergeEnvFiles, oneLine(strings.Join(words, " ")), secret)
		}
		sb.WriteString("          # cluster passes them to every process, under [env] and each process's own env.\n")
		if cfg.Format == procfile.FormatClusterfile {
			sb.WriteString("          # The Clusterfile still names the files and a missing one is an error: the image needs them (empty is enough).\n")
		}
		fmt.Fprintf(&sb, "          envFrom:\n            - secretRef:\n                name: %s\n", q(secret))
	}
	sb.WriteString(`          # /readyz: 200 when every type has a ready worker; /livez: 200 while cluster's supervisor answers.
          # Both wait up to 2 s for it, hence timeoutSeconds: 3.
          readinessProbe:
            httpGet:
              path: /readyz
              port: health
            periodSeconds: 5
            timeoutSeconds: 3
            failureThreshold: 3
          livenessProbe:
            httpGet:
              path: /livez
              port: health
            periodSeconds: 10
            timeoutSeconds: 3
            failureThreshold: 3
`)
	if memory > 0 {
		fmt.Fprintf(&sb, "          # max_memory × workers (%s) + %s for cluster itself.\n", strings.Join(counted, ", "), mebibytes(RunnerMemory))
		if len(uncounted) > 0 {
			subject := uncounted[0] + " sets no max_memory: its"
			if len(uncounted) > 1 {
				subject = strings.Join(uncounted, ", ") + " set no max_memory: their"
			}
			fmt.Fprintf(&sb, "          # %s memory is not counted here, so the pod may be OOM-killed; set max_memory or raise the limit.\n", subject)
		}
		fmt.Fprintf(&sb, "          resources:\n            limits:\n              memory: %s\n", mebibytes(memory+RunnerMemory))
	} else {
		sb.WriteString("          # No type sets max_memory: no memory limit.\n")
	}
	fmt.Fprintf(&sb, `          securityContext:
            runAsNonRoot: true
            # The nonroot user of distroless images; use your image's user if it has another.
            runAsUser: %d
            runAsGroup: %d
            readOnlyRootFilesystem: true
            allowPrivilegeEscalation: false
            capabilities:
              drop: ["ALL"]
            seccompProfile:
              type: RuntimeDefault
          # cluster's control socket goes to /tmp/cluster-UID when the Clusterfile's directory is read-only.
          volumeMounts:
            - name: tmp
              mountPath: /tmp
`, runAsUser, runAsUser)
	if len(sockets.dirs) > 0 {
		sb.WriteString("            # Where the unix sockets of listen go: cluster creates them, and the root filesystem is read-only.\n")
	}
	for _, d := range sockets.dirs {
		fmt.Fprintf(&sb, "            - name: %s\n              mountPath: %s\n", q(d.volume), q(d.path))
	}
	sb.WriteString("      volumes:\n        - name: tmp\n          emptyDir: {}\n")
	for _, d := range sockets.dirs {
		fmt.Fprintf(&sb, "        - name: %s\n          emptyDir: {}\n", q(d.volume))
	}

	for _, s := range services {
		fmt.Fprintf(&sb, `---
apiVersion: v1
kind: Service
metadata:
  name: %s
  labels:
    %s
spec:
  type: ClusterIP
  selector:
    %s
  ports:
`, q(s.name), labels, labels)
		for _, p := range s.ports {
			fmt.Fprintf(&sb, "    - name: %s\n      port: %d\n      targetPort: %s\n", q(p.name), p.number, q(p.name))
		}
	}
	return map[string]string{name + ".yaml": sb.String()}, nil
}

// socketDirs are the directories in the pod where the unix sockets of
// listen go, each an emptyDir: the root filesystem is read-only, and cluster
// must create the socket. /tmp is one already.
type socketDirs struct {
	dirs    []socketDir
	volumes map[string]bool // the volume names taken, "tmp" first
	cluster string          // the cluster's object name, for the suggested path
	podDir  string          // the Clusterfile's directory in the pod
	hidden  [][2]string     // directories an emptyDir must not cover, and what they hold
}

type socketDir struct{ path, volume string }

// systemDirs would lose what the image has there under an emptyDir, or
// cannot be one at all (below /proc, /sys, /dev and /usr as well).
var systemDirs = []string{"/bin", "/boot", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/sbin", "/var", "/dev", "/proc", "/sys", "/usr"}

func newSocketDirs(cfg *procfile.Config, cluster, clusterfilePath string) *socketDirs {
	s := &socketDirs{volumes: map[string]bool{"tmp": true}, cluster: cluster, podDir: path.Dir(clusterfilePath)}
	s.hidden = append(s.hidden, [2]string{s.podDir, "the Clusterfile"})
	for _, p := range cfg.Processes {
		// A type's directory under the Clusterfile's is there in the pod too.
		if rel, err := filepath.Rel(cfg.Dir, p.Dir); err == nil && rel != "." && !strings.HasPrefix(rel, "..") {
			s.hidden = append(s.hidden, [2]string{path.Join(s.podDir, filepath.ToSlash(rel)), fmt.Sprintf("process %q's directory", p.Name)})
		}
	}
	return s
}

// add records the directory of a unix listen address as cluster resolves
// it in the pod (a relative path is relative to the Clusterfile there), or
// says why an emptyDir cannot be mounted on it.
func (s *socketDirs) add(a procfile.Address) error {
	sock := strings.TrimPrefix(a.Raw, "unix:")
	if !path.IsAbs(sock) {
		sock = path.Join(s.podDir, sock)
	}
	dir := path.Dir(path.Clean(sock))
	if !path.IsAbs(dir) {
		return fmt.Errorf("the socket's directory in the pod is %s, relative to the container's working directory: give --clusterfile-path as an absolute path", dir)
	}
	instead := fmt.Sprintf("put the socket in a directory of its own (unix:/run/%s/%s)", s.cluster, path.Base(sock))
	if dir == "/" {
		return fmt.Errorf("the socket's directory in the pod is /, which cannot be a volume; %s", instead)
	}
	for _, h := range s.hidden {
		if h[0] == dir || strings.HasPrefix(h[0], dir+"/") {
			return fmt.Errorf("the socket's directory in the pod is %s, which holds %s; an emptyDir there would hide it; %s", dir, h[1], instead)
		}
	}
	for _, sys := range systemDirs {
		if dir == sys || (sys == "/dev" || sys == "/proc" || sys == "/sys" || sys == "/usr") && strings.HasPrefix(dir, sys+"/") {
			return fmt.Errorf("the socket's directory in the pod is %s, a system directory; an emptyDir there would hide what the image has; %s", dir, instead)
		}
	}
	if dir == "/tmp" {
		return nil
	}
	for _, d := range s.dirs {
		if d.path == dir {
			return nil
		}
	}
	volume := objectName("sock", dir)
	for i := 2; s.volumes[volume]; i++ {
		volume = objectName("sock", dir, strconv.Itoa(i))
	}
	s.volumes[volume] = true
	s.dirs = append(s.dirs, socketDir{dir, volume})
	return nil
}

// envFilePaths are cfg.EnvFiles (relative to cfg.Dir) as kubectl finds them
// when run in workDir: relative to it when inside it, else absolute.
func envFilePaths(cfg *procfile.Config, workDir string) []string {
	var out []string
	for _, f := range cfg.EnvFiles {
		if !filepath.IsAbs(f) {
			f = filepath.Join(cfg.Dir, f)
		}
		if workDir != "" {
			if rel, err := filepath.Rel(workDir, f); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
				f = rel
			}
		}
		out = append(out, f)
	}
	return out
}

// mergeEnvFiles is the awk program that writes each key of the env files it
// reads once, where it first appears, with the line that defines it last.
const mergeEnvFiles = `awk -F= '/^[ \t]*(#|$)/ { next } { sub(/^[ \t]+/, ""); k = $1 } !(k in v) { o[++n] = k } { v[k] = $0 } END { for (i = 1; i <= n; i++) print v[o[i]] }'`

// secretFiles are the env files for the Secret, each once (paths as
// envFilePaths has them, keys as dotenvKeys does), and the keys that more
// than one line among them define.
func secretFiles(paths []string, keys [][]string) (files, repeated []string) {
	seen := map[string]bool{}
	count := map[string]int{}
	for i, p := range paths {
		if seen[p] {
			continue
		}
		seen[p] = true
		files = append(files, p)
		for _, k := range keys[i] {
			if count[k]++; count[k] == 2 {
				repeated = append(repeated, k)
			}
		}
	}
	sort.Strings(repeated)
	return files, repeated
}

// envName is what Kubernetes accepts as an env var name (IsEnvVarName).
var envName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[-._a-zA-Z][-._a-zA-Z0-9]*$`) })

// inlineEnv is the cluster's own environment that may be written: cfg.Env
// minus what it inherited unchanged from osEnv, minus every key that an env
// file defines (even when [env] sets it too: cluster applies [env] from the
// Clusterfile anyway, and a value that was in a dotenv file never leaks).
// Keys Kubernetes would refuse are returned apart.
func inlineEnv(cfg *procfile.Config, osEnv []string) (env [][2]string, skipped []string, err error) {
	inherited := map[string]bool{}
	for _, kv := range osEnv {
		inherited[kv] = true
	}
	fileKeys, err := dotenvKeys(cfg)
	if err != nil {
		return nil, nil, err
	}
	fromFiles := map[string]bool{}
	for _, keys := range fileKeys {
		for _, k := range keys {
			fromFiles[k] = true
		}
	}
	for _, kv := range cfg.Env {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case inherited[kv] || fromFiles[k]:
		case !envName().MatchString(k):
			skipped = append(skipped, k)
		default:
			env = append(env, [2]string{k, v})
		}
	}
	sort.Slice(env, func(i, j int) bool { return env[i][0] < env[j][0] })
	return env, skipped, nil
}

// dotenvKeys are the keys each of cfg.EnvFiles defines, in order, a key
// as often as the file defines it.
func dotenvKeys(cfg *procfile.Config) ([][]string, error) {
	var out [][]string
	for _, f := range cfg.EnvFiles {
		p := f
		if !filepath.IsAbs(p) {
			p = filepath.Join(cfg.Dir, f)
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		pairs, err := procfile.ParseDotenv(bytes.NewReader(src), f, nil)
		if err != nil {
			return nil, err
		}
		keys := make([]string, len(pairs))
		for i, kv := range pairs {
			keys[i] = kv[0]
		}
		out = append(out, keys)
	}
	return out, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// mebibytes rounds n bytes up to a Kubernetes quantity in Mi.
func mebibytes(n int64) string {
	return strconv.FormatInt((n+(1<<20)-1)>>20, 10) + "Mi"
}

// q quotes a YAML scalar. Every string is quoted: "on", "no" or "1e3" unquoted
// would be a boolean or a number to a YAML 1.1 reader such as kubectl's.
// Go's escapes (\n, \t, \xNN, \uNNNN) are all valid in YAML double quotes.
func q(s string) string { return strconv.Quote(s) }

// shellWord quotes s for a POSIX shell when it needs it.
func shellWord(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:@%+,", r))
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
