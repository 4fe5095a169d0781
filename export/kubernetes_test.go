package export

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/cluster-run/cluster/procfile"
)

// testOSEnv is the environment the tests load with: what the exporting
// machine had, which the export must not copy.
var testOSEnv = []string{"HOME=/home/me", "PATH=/usr/bin:/bin", "SHELL_SECRET=from-my-shell"}

// load writes files (name, content, name, content ...) into a directory
// called dirName under a temp dir and loads the first one.
func load(t *testing.T, dirName string, files ...string) *procfile.Config {
	t.Helper()
	dir := filepath.Join(t.TempDir(), dirName)
	for i := 0; i < len(files); i += 2 {
		p := filepath.Join(dir, files[i])
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(files[i+1]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := procfile.LoadWith(filepath.Join(dir, files[0]), testOSEnv, 4)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// exportValid exports cfg and fails the test unless every object passes the
// strict checks of validate_k8s_test.go.
func exportValid(t *testing.T, cfg *procfile.Config, opt KubernetesOptions) (string, manifest) {
	t.Helper()
	if opt.OSEnv == nil {
		opt.OSEnv = testOSEnv
	}
	files, err := Kubernetes(cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 {
		t.Fatalf("want one file, got %d", len(files))
	}
	var text string
	for _, v := range files {
		text = v
	}
	m, errs := validateManifest(text)
	for _, e := range errs {
		t.Errorf("invalid: %s", e)
	}
	if len(m.deployments) != 1 {
		t.Fatalf("want one Deployment, got %d\n%s", len(m.deployments), text)
	}
	if t.Failed() {
		t.Logf("the export:\n%s", text)
	}
	return text, m
}

func container(d *appsv1.Deployment) *corev1.Container { return &d.Spec.Template.Spec.Containers[0] }

func portsOf(c *corev1.Container) map[string]int32 {
	m := map[string]int32{}
	for _, p := range c.Ports {
		m[p.Name] = p.ContainerPort
	}
	return m
}

func serviceNames(m manifest) []string {
	var out []string
	for _, s := range m.services {
		out = append(out, s.Name)
	}
	return out
}

func TestExportKubernetesExample(t *testing.T) {
	cfg, err := procfile.LoadWith("../Clusterfile.example", testOSEnv, 4)
	if err != nil {
		t.Fatal(err)
	}
	text, m := exportValid(t, cfg, KubernetesOptions{Image: "demo:1"})
	d := m.deployments[0]
	c := container(d)
	if d.Name != "demo" || c.Image != "demo:1" {
		t.Errorf("name %q image %q", d.Name, c.Image)
	}
	if got := strings.Join(c.Command, " "); got != "cluster run -f /app/Clusterfile.example --no-watch --log-format json --health 0.0.0.0:9102" {
		t.Errorf("command: %s", got)
	}
	if p := portsOf(c); p["health"] != 9102 || len(p) != 1 {
		t.Errorf("ports: %v", p)
	}
	for _, pr := range []struct {
		probe *corev1.Probe
		path  string
	}{{c.ReadinessProbe, "/readyz"}, {c.LivenessProbe, "/livez"}} {
		if pr.probe == nil || pr.probe.HTTPGet == nil || pr.probe.HTTPGet.Path != pr.path || pr.probe.HTTPGet.Port.StrVal != "health" || pr.probe.TimeoutSeconds < 3 {
			t.Errorf("probe for %s: %+v", pr.path, pr.probe)
		}
	}
	if g := *d.Spec.Template.Spec.TerminationGracePeriodSeconds; g != 40 {
		t.Errorf("terminationGracePeriodSeconds %d, want 30s + 10s", g)
	}
	// web: 2 workers × 256 MiB, + 64 MiB for cluster; ticker sets none and says so.
	if mem := c.Resources.Limits.Memory().String(); mem != "576Mi" {
		t.Errorf("memory limit %s, want 576Mi", mem)
	}
	if !strings.Contains(text, "# ticker sets no max_memory: its memory is not counted") {
		t.Errorf("no comment that ticker is not counted")
	}
	// The example names env_file only in a comment: no Secret.
	if len(c.EnvFrom) != 0 {
		t.Errorf("envFrom %v for an env_file in a comment", c.EnvFrom)
	}
	if len(c.Env) != 1 || c.Env[0].Name != "GREETING" || c.Env[0].Value != "hello" {
		t.Errorf("env: %v", c.Env)
	}
	if !strings.Contains(text, `web listens on loopback (127.0.0.1:8080): a Service cannot reach it, so no port and no Service`) {
		t.Errorf("no note about the loopback listen")
	}
	if names := serviceNames(m); len(names) != 0 {
		t.Errorf("services %v for a loopback listen", names)
	}
	checkHardening(t, d)
}

// checkHardening: a read-only root, not root, and /tmp writable for the
// control socket's fallback.
func checkHardening(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	c := container(d)
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot ||
		sc.RunAsUser == nil || *sc.RunAsUser == 0 || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("securityContext %+v", sc)
	}
	tmp := false
	for _, m := range c.VolumeMounts {
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name == m.Name && v.EmptyDir != nil && m.MountPath == "/tmp" {
				tmp = true
			}
		}
	}
	if !tmp {
		t.Errorf("no emptyDir at /tmp")
	}
}

func TestExportKubernetesNames(t *testing.T) {
	// No name = ...: the directory's, in capitals. web_api has an underscore;
	// a 20-character type; a type with two ports.
	cfg := load(t, "MyShop", "Clusterfile", `
[process.web_api]
command = "x"
workers = 1
listen = ":8080"
[process.notifications_sender]
command = "x"
workers = 1
listen = [":9000", ":9001"]
[process.Worker]
command = "x"
workers = 1
`)
	_, m := exportValid(t, cfg, KubernetesOptions{})
	d := m.deployments[0]
	if d.Name != "myshop" || container(d).Image != "myshop:latest" {
		t.Errorf("deployment %q image %q", d.Name, container(d).Image)
	}
	ports := portsOf(container(d))
	if ports["web-api"] != 8080 {
		t.Errorf("ports %v: want web-api", ports)
	}
	// "notifications-sender-1" is 22 characters: cut to 15 with a hash.
	long := regexp.MustCompile(`^notificat-[0-9a-f]{5}$`)
	n := 0
	for name, p := range ports {
		if long.MatchString(name) {
			n++
			if p != 9000 && p != 9001 {
				t.Errorf("%s: port %d", name, p)
			}
		}
	}
	if n != 2 {
		t.Errorf("ports %v: want two notificat-HASH", ports)
	}
	want := []string{"myshop-web-api", "myshop-notifications-sender"}
	if got := serviceNames(m); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("services %v, want %v", got, want)
	}
	// Exported twice, the same bytes.
	a, _ := Kubernetes(cfg, KubernetesOptions{OSEnv: testOSEnv})
	b, _ := Kubernetes(cfg, KubernetesOptions{OSEnv: testOSEnv})
	if a["myshop.yaml"] == "" || a["myshop.yaml"] != b["myshop.yaml"] {
		t.Errorf("not deterministic, or not myshop.yaml: %v", a)
	}
}

func TestExportKubernetesOddNames(t *testing.T) {
	// A name that starts with a digit (a Service name must not), type names
	// that YAML would read as a boolean and a number, a name over 63
	// characters, a unix socket, a port below 1024, a user.
	long := strings.Repeat("very-long-name-", 5)
	for _, name := range []string{"2048", "on", long, "Café Shop!"} {
		t.Run(name, func(t *testing.T) {
			cfg := load(t, "dir", "Clusterfile", `name = "`+name+`"
[process.on]
command = "x"
workers = 1
listen = ":80"
user = "app"
[process.1e3]
command = "x"
workers = 1
listen = [":8081", "127.0.0.1:8082", "unix:/run/app/app.sock"]
`)
			text, m := exportValid(t, cfg, KubernetesOptions{})
			if got := len(m.services); got != 2 {
				t.Errorf("%d services, want 2", got)
			}
			sc := m.deployments[0].Spec.Template.Spec.SecurityContext
			if sc == nil || len(sc.Sysctls) != 1 || sc.Sysctls[0].Value != "0" {
				t.Errorf("no unprivileged-port sysctl for :80: %+v", sc)
			}
			for _, want := range []string{`on sets user = "app"`, `unix:/run/app/app.sock: a unix socket gets no port`} {
				if !strings.Contains(text, want) {
					t.Errorf("no note %q", want)
				}
			}
		})
	}
}

func TestExportKubernetesDotenv(t *testing.T) {
	cfg := load(t, "shop", "Clusterfile", `name = "shop"
env_file = [".env"]
[env]
LOG = "info"
SHARED = "from-env-table"
[process.web]
command = "x"
workers = 2
listen = ":8080"
max_memory = "100MiB"
env_file = "web.env"
[process.web.env]
OWN = "1"
`,
		".env", "DB_PASSWORD=hunter2\nSHARED=\"from-dotenv\"\nexport TOKEN='tok-123'\n",
		"web.env", "WEB_SECRET=s3cr3t\n")
	text, m := exportValid(t, cfg, KubernetesOptions{})
	for _, secret := range []string{"hunter2", "from-dotenv", "tok-123", "s3cr3t", "from-my-shell", "/home/me"} {
		if strings.Contains(text, secret) {
			t.Errorf("the export holds %q", secret)
		}
	}
	c := container(m.deployments[0])
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef == nil || c.EnvFrom[0].SecretRef.Name != "shop-env" {
		t.Errorf("envFrom %+v, want the Secret shop-env", c.EnvFrom)
	}
	// The files as kubectl finds them from where cluster export ran.
	for _, tc := range []struct{ workDir, want string }{
		{cfg.Dir, "--from-env-file=.env --from-env-file=web.env"},
		{filepath.Dir(cfg.Dir), "--from-env-file=shop/.env --from-env-file=shop/web.env"},
		{filepath.Join(cfg.Dir, "sub"), "--from-env-file=" + filepath.Join(cfg.Dir, ".env") + " --from-env-file=" + filepath.Join(cfg.Dir, "web.env")},
		{"", "--from-env-file=" + filepath.Join(cfg.Dir, ".env") + " --from-env-file=" + filepath.Join(cfg.Dir, "web.env")},
	} {
		text, _ := exportValid(t, cfg, KubernetesOptions{WorkDir: tc.workDir})
		if want := "#   kubectl create secret generic shop-env " + tc.want + "\n"; !strings.Contains(text, want) {
			t.Errorf("from %q: no line %q", tc.workDir, want)
		}
	}
	// [env] stays inline, except a key an env file defines too.
	if len(c.Env) != 1 || c.Env[0].Name != "LOG" || c.Env[0].Value != "info" {
		t.Errorf("env %v, want LOG=info only", c.Env)
	}
	if mem := c.Resources.Limits.Memory().String(); mem != "264Mi" {
		t.Errorf("memory %s, want 2 × 100Mi + 64Mi", mem)
	}
	if strings.Contains(text, "no max_memory") {
		t.Errorf("a note about missing max_memory when every type sets it")
	}
}

// TestExportKubernetesUnixSocket: the root filesystem is read-only, so each
// directory a unix socket of listen goes to is an emptyDir, where the runner
// can create the socket; /tmp already is one.
func TestExportKubernetesUnixSocket(t *testing.T) {
	cfg := load(t, "shop", "Clusterfile", `name = "shop"
[process.web]
command = "x"
workers = 1
listen = ["unix:/run/app.sock", "unix:/run/other.sock", "unix:run/c.sock", "unix:/tmp/d.sock", ":8080"]
[process.jobs]
command = "x"
workers = 1
listen = ["unix:/var/run/shop/b.sock", "unix:/run/jobs.sock"]
`)
	for _, tc := range []struct {
		opt  KubernetesOptions
		want []string // mount paths, /tmp first
	}{
		{KubernetesOptions{}, []string{"/tmp", "/run", "/app/run", "/var/run/shop"}},
		{KubernetesOptions{ClusterfilePath: "/srv/shop/Clusterfile"}, []string{"/tmp", "/run", "/srv/shop/run", "/var/run/shop"}},
	} {
		_, m := exportValid(t, cfg, tc.opt)
		d := m.deployments[0]
		var got []string
		for _, mt := range container(d).VolumeMounts {
			got = append(got, mt.MountPath)
			found := false
			for _, v := range d.Spec.Template.Spec.Volumes {
				found = found || v.Name == mt.Name && v.EmptyDir != nil
			}
			if !found {
				t.Errorf("%s: no emptyDir %q", mt.MountPath, mt.Name)
			}
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("-f %s: mounts %v, want %v", tc.opt.ClusterfilePath, got, tc.want)
		}
		checkHardening(t, d)
	}

	for _, tc := range []struct{ listen, dir, opt, want string }{
		{"unix:/app.sock", "", "", `process "web" listens on unix:/app.sock: the socket's directory in the pod is /, which cannot be a volume; put the socket in a directory of its own (unix:/run/shop/app.sock)`},
		{"unix:app.sock", "", "", `process "web" listens on unix:app.sock: the socket's directory in the pod is /app, which holds the Clusterfile; an emptyDir there would hide it; put the socket in a directory of its own (unix:/run/shop/app.sock)`},
		{"unix:/srv/x.sock", "", "/srv/shop/Clusterfile", `the socket's directory in the pod is /srv, which holds the Clusterfile`},
		{"unix:/usr/local/x.sock", "", "", `the socket's directory in the pod is /usr/local, a system directory`},
		{"unix:/etc/x.sock", "", "", `the socket's directory in the pod is /etc, a system directory`},
		{"unix:code/x.sock", "code", "", `the socket's directory in the pod is /app/code, which holds process "web"'s directory`},
		{"unix:run/x.sock", "", "Clusterfile", `the socket's directory in the pod is run, relative to the container's working directory: give --clusterfile-path as an absolute path`},
	} {
		file := "[process.web]\ncommand = \"x\"\nlisten = \"" + tc.listen + "\"\n"
		if tc.dir != "" {
			file += "dir = \"" + tc.dir + "\"\n"
		}
		cfg := load(t, "shop", "Clusterfile", file, "code/keep", "")
		_, err := Kubernetes(cfg, KubernetesOptions{ClusterfilePath: tc.opt, OSEnv: testOSEnv})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v\nwant %s", tc.listen, err, tc.want)
		}
	}
}

// TestExportKubernetesSamePort: a port is listed once in the Service and the
// container, however many addresses a type listens on with it, and a
// loopback address, which no Service reaches, not at all.
func TestExportKubernetesSamePort(t *testing.T) {
	cfg := load(t, "shop", "Clusterfile", `name = "shop"
[process.web]
command = "x"
workers = 1
listen = ["127.0.0.1:8080", "[::1]:8080"]
[process.api]
command = "x"
workers = 1
listen = ["192.0.2.1:9000", "192.0.2.2:9000", "[::ffff:127.0.0.1]:9002", ":9001"]
`)
	text, m := exportValid(t, cfg, KubernetesOptions{})
	if names := serviceNames(m); strings.Join(names, " ") != "shop-api" {
		t.Fatalf("services %v, want shop-api alone", names)
	}
	var got []string
	for _, p := range m.services[0].Spec.Ports {
		got = append(got, fmt.Sprintf("%s=%d", p.Name, p.Port))
	}
	if strings.Join(got, " ") != "api-1=9000 api-4=9001" {
		t.Errorf("Service ports %v, want api-1=9000 api-4=9001", got)
	}
	if p := portsOf(container(m.deployments[0])); len(p) != 3 || p["api-1"] != 9000 || p["api-4"] != 9001 {
		t.Errorf("container ports %v", p)
	}
	for _, note := range []string{
		"# web listens on loopback (127.0.0.1:8080): a Service cannot reach it, so no port and no Service",
		"# web listens on loopback ([::1]:8080)",
		"# api listens on loopback ([::ffff:127.0.0.1]:9002)",
	} {
		if !strings.Contains(text, note) {
			t.Errorf("no note %q", note)
		}
	}
}

// TestExportKubernetesRepeatedKeys: kubectl refuses a key twice among its
// --from-env-file files, though dotenv layers them (the last value wins).
func TestExportKubernetesRepeatedKeys(t *testing.T) {
	const clusterfile = `name = "shop"
env_file = [".env"]
[process.web]
command = "x"
workers = 1
env_file = [%s]
[process.jobs]
command = "x"
workers = 1
env_file = ".env"
`
	for _, tc := range []struct {
		name, files, webEnv string
		command, note       string // "": none
		merged              string // what the pipeline gives kubectl
	}{
		{"one file twice", `"./.env"`, "", "kubectl create secret generic shop-env --from-env-file=.env\n", "", ""},
		{"no repeats", `"web.env"`, "WEB=1\n", "kubectl create secret generic shop-env --from-env-file=.env --from-env-file=web.env\n", "", ""},
		{"a key in two files", `"web.env"`, "# web's\nDB=from-web\n  TOKEN=t2\nWEB=1\n",
			"kubectl create secret generic shop-env --from-env-file=/dev/stdin\n",
			"# .env, web.env define DB, TOKEN more than once, and kubectl refuses a key twice: merge them first, the last value winning as in cluster:",
			"DB=from-web\nSHARED=x\nTOKEN=t2\nWEB=1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := load(t, "shop", "Clusterfile", fmt.Sprintf(clusterfile, tc.files),
				".env", "DB=from-dotenv\nSHARED=x\nTOKEN=t1\n", "web.env", tc.webEnv)
			text, _ := exportValid(t, cfg, KubernetesOptions{WorkDir: cfg.Dir})
			for _, secret := range []string{"from-dotenv", "from-web", "t1", "t2"} {
				if strings.Contains(text, secret) {
					t.Errorf("the export holds %q", secret)
				}
			}
			if !strings.Contains(text, tc.command) {
				t.Errorf("no %q in\n%s", tc.command, text)
			}
			if tc.note == "" {
				if strings.Contains(text, "more than once") {
					t.Errorf("a note about repeated keys:\n%s", text)
				}
				return
			}
			if !strings.Contains(text, tc.note) {
				t.Errorf("no note %q", tc.note)
			}
			// The pipeline keeps each key once, with its last value.
			line := regexp.MustCompile(`(?m)^ +#   (.*) \| kubectl create secret`).FindStringSubmatch(text)
			if line == nil {
				t.Fatalf("no pipeline")
			}
			if _, err := exec.LookPath("awk"); err != nil {
				t.Skip("no awk: the merge is not run")
			}
			cmd := exec.Command("sh", "-c", line[1])
			cmd.Dir = cfg.Dir
			out, err := cmd.CombinedOutput()
			if err != nil || string(out) != tc.merged {
				t.Errorf("%s: %v\n%s\nwant\n%s", line[1], err, out, tc.merged)
			}
		})
	}
}

func TestExportKubernetesEnvFileOnlyInComment(t *testing.T) {
	cfg := load(t, "shop", "Clusterfile", "# env_file = [\".env\"]\n[process.web]\ncommand = \"x\"\nworkers = 1\n")
	text, m := exportValid(t, cfg, KubernetesOptions{})
	if c := container(m.deployments[0]); len(c.EnvFrom) != 0 || strings.Contains(text, "kubectl create secret") {
		t.Errorf("a Secret for an env_file in a comment: %v", c.EnvFrom)
	}
	if !strings.Contains(text, "No type sets max_memory") || container(m.deployments[0]).Resources.Limits != nil {
		t.Errorf("want no memory limit and a note")
	}
}

func TestExportKubernetesProcfile(t *testing.T) {
	withEnv := load(t, "app", "Procfile", "web: x\nworker: y\n", ".env", "KEY=v4lue\n")
	text, m := exportValid(t, withEnv, KubernetesOptions{})
	c := container(m.deployments[0])
	if len(c.EnvFrom) != 1 || strings.Contains(text, "v4lue") {
		t.Errorf("envFrom %v", c.EnvFrom)
	}
	if c.Command[3] != "/app/Procfile" {
		t.Errorf("command %v: want -f /app/Procfile", c.Command)
	}
	if strings.Contains(text, "missing one is an error") {
		t.Errorf("a Procfile's .env is optional, the note says otherwise")
	}
	if strings.Contains(text, `workers = \"auto\"`) {
		t.Errorf("a note about auto workers for a Procfile (one worker per type)")
	}

	without := load(t, "app", "Procfile", "web: x\n")
	_, m = exportValid(t, without, KubernetesOptions{ClusterfilePath: "/srv/Procfile"})
	if c := container(m.deployments[0]); len(c.EnvFrom) != 0 || c.Command[3] != "/srv/Procfile" {
		t.Errorf("envFrom %v command %v", c.EnvFrom, c.Command)
	}
}

func TestExportKubernetesCollisions(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		opt        KubernetesOptions
		want       []string
	}{
		{"two types, one name", `
[process.web_api]
command = "x"
listen = ":8080"
[process.web-api]
command = "x"
listen = ":8081"
`, KubernetesOptions{}, []string{
			`process "web_api" and process "web-api" both become the Kubernetes Service name "shop-web-api": rename one`,
			`process "web_api" and process "web-api" both become the Kubernetes port name "web-api": rename one`}},
		{"a type named health", `
[process.health]
command = "x"
listen = ":8080"
`, KubernetesOptions{}, []string{`the health port (--health-port) and process "health" both become the Kubernetes port name "health"`}},
		{"the health port", `
[process.web]
command = "x"
listen = ":9102"
`, KubernetesOptions{}, []string{`process "web" listens on :9102, the health port: choose another with --health-port`}},
		{"another health port", `
[process.web]
command = "x"
listen = ":9102"
`, KubernetesOptions{HealthPort: 9200}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := load(t, "shop", "Clusterfile", tc.file)
			_, err := Kubernetes(cfg, tc.opt)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				exportValid(t, cfg, tc.opt)
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nwant %q", err, w)
				}
			}
		})
	}
}

// TestExportKubernetesValidatorCatches shows the checker is strict: each
// broken manifest yields the error named.
func TestExportKubernetesValidatorCatches(t *testing.T) {
	cfg := load(t, "shop", "Clusterfile", "[process.web]\ncommand = \"x\"\nworkers = 1\nlisten = \":8080\"\n")
	files, err := Kubernetes(cfg, KubernetesOptions{OSEnv: testOSEnv})
	if err != nil {
		t.Fatal(err)
	}
	good := files["shop.yaml"]
	if _, errs := validateManifest(good); len(errs) != 0 {
		t.Fatalf("the good one fails: %v", errs)
	}
	for _, tc := range []struct{ from, to, want string }{
		{"terminationGracePeriodSeconds:", "terminationGracePeriod:", `unknown field "spec.template.spec.terminationGracePeriod"`},
		{"      containerPort: 8080", "      containerPort: 8080\n              containerPort: 8081", `key "containerPort" already set`},
		{`name: "shop-web"`, `name: "Shop_Web"`, `Service/Shop_Web: metadata.name: Invalid value: "Shop_Web"`},
		{`name: "shop-web"`, `name: "1-shop-web"`, `a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character`},
		{`- name: "web"`, `- name: "web_api"`, `ports[0].name: Invalid value: "web_api"`},
		{`- name: "web"`, `- name: "a-very-long-port-name"`, `must be no more than 15 characters`},
		{`port: health`, `port: healthz`, `readinessProbe.httpGet.port: Not found: "healthz"`},
		{`targetPort: "web"`, `targetPort: "www"`, `spec.ports[0].targetPort: Not found: "www"`},
		{`app: "shop"`, `app: "-shop"`, `Invalid value: "-shop"`},
		{`mountPath: /tmp`, `mountPath: tmp`, `mountPath: Invalid value: "tmp"`},
		{`replicas: 1`, `replicas: "one"`, `cannot unmarshal`},
		{"      targetPort: \"web\"\n", "      targetPort: \"web\"\n    - name: \"web-2\"\n      port: 8080\n      targetPort: \"web\"\n", `Service/shop-web: spec.ports[1]: Duplicate value: "TCP/8080"`},
	} {
		bad := strings.Replace(good, tc.from, tc.to, 1)
		if bad == good {
			t.Fatalf("%q is not in the export", tc.from)
		}
		_, errs := validateManifest(bad)
		if !strings.Contains(strings.Join(errs, "\n"), tc.want) {
			t.Errorf("%s -> %s: want an error with %q, got %q", tc.from, tc.to, tc.want, errs)
		}
	}
}
