package export

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestExportSystemd(t *testing.T) {
	// A directory with a space and a "%": ExecStart quotes, specifiers escape.
	cfg := load(t, "my app%d", "Clusterfile", `name = "shop"
shutdown_timeout = "20s"
[process.web]
command = "x"
listen = [":8080", "localhost:8081", "[::1]:8082", "myhost:8083", "unix:web.sock"]
ready = { log = "listening", timeout = "2m" }
[process.jobs]
command = "x"
`)
	for _, tc := range []struct {
		name     string
		watchdog time.Duration
		want     []string // regexps, each matching one line of shop.service
		not      []string
	}{
		{"no watchdog", 0, []string{
			`^Type=notify$`, `^NotifyAccess=main$`,
			`^ExecStart=/bin/true run -f ".*/my app%%d/Clusterfile" --no-watch --color never$`,
			`^ExecReload=/bin/kill -HUP \$MAINPID$`,
			`^WorkingDirectory=.*/my app%%d$`,
			`^KillMode=mixed$`, `^TimeoutStopSec=30$`, `^TimeoutStartSec=130$`,
			`^Restart=on-failure$`, `^SuccessExitStatus=143$`,
			`^NoNewPrivileges=yes$`, `^PrivateTmp=yes$`,
			`^Requires=shop-web-1.socket shop-web-2.socket shop-web-3.socket shop-web-5.socket$`,
			`^# web listens on myhost:8083: systemd binds IP addresses, not host names, so cluster binds it itself.$`,
		}, []string{`^WatchdogSec=`, `^Type=simple`}},
		{"watchdog 30s", 30 * time.Second, []string{`^WatchdogSec=30$`}, nil},
		{"watchdog 1.5s", 1500 * time.Millisecond, []string{`^WatchdogSec=1500ms$`}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files, err := Systemd(cfg, SystemdOptions{Bin: "/bin/true", Watchdog: tc.watchdog})
			if err != nil {
				t.Fatal(err)
			}
			svc := files["shop.service"]
			for _, w := range tc.want {
				if !regexp.MustCompile(`(?m)` + w).MatchString(svc) {
					t.Errorf("no line %s in\n%s", w, svc)
				}
			}
			for _, w := range tc.not {
				if regexp.MustCompile(`(?m)` + w).MatchString(svc) {
					t.Errorf("a line %s in\n%s", w, svc)
				}
			}
			verify(t, files)
		})
	}
	files, _ := Systemd(cfg, SystemdOptions{Bin: "/bin/true"})
	for name, stream := range map[string]string{
		"shop-web-1.socket": "8080",           // every address: cluster adopts it for ":8080"
		"shop-web-2.socket": "127.0.0.1:8081", // systemd takes no host names; cluster adopts it for localhost
		"shop-web-3.socket": "[::1]:8082",
		"shop-web-5.socket": filepath.Join(cfg.Dir, "web.sock"),
	} {
		want := "\nListenStream=" + strings.ReplaceAll(stream, "%", "%%") + "\nFileDescriptorName=web\n"
		if !strings.Contains(files[name], want) {
			t.Errorf("%s: want %q in\n%s", name, want, files[name])
		}
	}
	if len(files) != 5 {
		t.Errorf("%d files, want the service and 4 sockets", len(files))
	}
	if _, err := Systemd(cfg, SystemdOptions{Bin: "/bin/true", Watchdog: -time.Second}); err == nil {
		t.Errorf("a negative watchdog is accepted")
	}
}

// verify runs systemd-analyze verify on the units, where it is installed.
func verify(t *testing.T, files map[string]string) {
	t.Helper()
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Log("no systemd-analyze: units not verified")
		return
	}
	dir := t.TempDir()
	args := []string{"verify", "--man=no"}
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	if out, err := exec.Command("systemd-analyze", args...).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestExportSystemdListenStream: ListenStream= is the address cluster binds
// and then looks for among the sockets systemd passes, as check parsed it.
func TestExportSystemdListenStream(t *testing.T) {
	for _, tc := range []struct{ listen, stream, why string }{
		{":8080", "8080", ""},
		{":010080", "10080", ""}, // decimal, as check reads it; systemd would refuse it or read octal
		{":010070", "10070", ""}, // not octal 4152
		{"127.0.0.1:08080", "127.0.0.1:8080", ""},
		{"localhost:0443", "127.0.0.1:443", ""},
		{"[::ffff:127.0.0.1]:18090", "127.0.0.1:18090", ""}, // cluster binds it unmapped
		{"[::1]:0080", "[::1]:80", ""},
		{":0", "", "port 0 is any free port"},
		{"myhost:80", "", "systemd binds IP addresses, not host names"},
	} {
		cfg := load(t, "app", "Clusterfile", "[process.web]\ncommand = \"x\"\nlisten = \""+tc.listen+"\"\n")
		stream, why := listenStream(cfg.Processes[0].Listen[0])
		if stream != tc.stream || why != tc.why {
			t.Errorf("%s: ListenStream=%q (%q), want %q (%q)", tc.listen, stream, why, tc.stream, tc.why)
		}
	}
}

// TestExportSystemdLongNames: unit names stay within systemd's 255 bytes
// (and a file name's), distinct, and the service's references match them.
func TestExportSystemdLongNames(t *testing.T) {
	long := strings.Repeat("n", 250)
	longType := strings.Repeat("t", 260)
	cfg := load(t, "app", "Clusterfile", `name = "`+long+`"
[process.web]
command = "x"
listen = [":18001", ":18002"]
[process.`+longType+`]
command = "x"
listen = ":18003"
`)
	files, err := Systemd(cfg, SystemdOptions{Bin: "/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	var service string
	for name, text := range files {
		if len(name) > 255 {
			t.Errorf("%d bytes: %s", len(name), name)
		}
		if strings.HasSuffix(name, ".service") {
			service = name
		}
		if m := regexp.MustCompile(`(?m)^FileDescriptorName=(.*)$`).FindStringSubmatch(text); m != nil && len(m[1]) > 255 {
			t.Errorf("%s: FileDescriptorName= of %d bytes", name, len(m[1]))
		}
	}
	if len(files) != 4 || service == "" {
		t.Fatalf("want a service and 3 sockets, got %d files", len(files))
	}
	for name, text := range files {
		if strings.HasSuffix(name, ".socket") {
			if !strings.Contains(text, "\nService="+service+"\n") || !strings.Contains(files[service], name) {
				t.Errorf("%s and %s do not name each other", name, service)
			}
		}
	}
	// The same names on every export.
	again, _ := Systemd(cfg, SystemdOptions{Bin: "/bin/true"})
	for name := range files {
		if _, ok := again[name]; !ok {
			t.Errorf("%s: not written again", name)
		}
	}
	verify(t, files)
	// Where systemd-analyze is missing too: the files can be written.
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// TestExportSystemdNameClash: two types whose socket units would have one
// name are an error naming both, never one file over the other.
func TestExportSystemdNameClash(t *testing.T) {
	cfg := load(t, "app", "Clusterfile", `name = "shop"
[process.web]
command = "x"
listen = [":18001", ":18002"]
[process.web-1]
command = "x"
listen = ":18003"
`)
	_, err := Systemd(cfg, SystemdOptions{Bin: "/bin/true"})
	if err == nil || !strings.Contains(err.Error(), `process "web" and process "web-1" both become the systemd unit "shop-web-1.socket": rename one`) {
		t.Errorf("error %v", err)
	}
}

// TestExportSystemdStartTimeout: types start one after another along
// depends_on, so READY=1 may come after the sum of their ready.timeout; a
// one-shot that must complete first has no bound.
func TestExportSystemdStartTimeout(t *testing.T) {
	const chain = `
[process.db]
command = "x"
ready = { log = "accepting", timeout = "60s" }
[process.web]
command = "x"
depends_on = ["db"]
ready = { delay = "1s", timeout = "50s" }
[process.mail]
command = "x"
ready = { delay = "1s", timeout = "70s" }
`
	for _, tc := range []struct {
		name, file, text string
		want             []string
	}{
		{"alone", "Clusterfile", "[process.web]\ncommand = \"x\"\nready = { delay = \"1s\", timeout = \"2m\" }\n",
			[]string{`^TimeoutStartSec=130$`}},
		{"default", "Clusterfile", "[process.web]\ncommand = \"x\"\n", []string{`^TimeoutStartSec=90$`}},
		{"a chain", "Clusterfile", chain + `[process.worker]
command = "x"
depends_on = ["web"]
ready = { delay = "1s", timeout = "40s" }
`, []string{`^# ready.timeout summed along the longest depends_on chain \(db, web, worker: 2m30s\) \+ 10s, at least systemd's default\.$`, `^TimeoutStartSec=160$`}},
		{"started only", "Clusterfile", chain + `[process.worker]
command = "x"
depends_on = { web = "started" }
ready = { delay = "1s", timeout = "40s" }
`, []string{`^TimeoutStartSec=120$`}}, // db 60 + web 50 = 110; worker starts with web: 60 + 40
		{"started first", "Clusterfile", chain + `[process.worker]
command = "x"
depends_on = { db = "started" }
ready = { delay = "1s", timeout = "40s" }
`, []string{`^TimeoutStartSec=120$`}}, // db 60 + web 50 = 110; worker 40 from db's start
		{"completed", "Clusterfile", chain + `[process.migrate]
command = "x"
restart = "never"
[process.worker]
command = "x"
depends_on = { migrate = "completed", web = "ready" }
`, []string{`^# infinity: worker waits for migrate to complete \(depends_on\), which takes as long as it takes\.$`, `^TimeoutStartSec=infinity$`}},
		{"release", "Procfile", "release: ./migrate\nweb: x\n",
			[]string{`^# infinity: a Procfile's release runs to completion before the other types start, as long as it takes\.$`, `^TimeoutStartSec=infinity$`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := load(t, "app", tc.file, tc.text)
			files, err := Systemd(cfg, SystemdOptions{Bin: "/bin/true"})
			if err != nil {
				t.Fatal(err)
			}
			svc := files["app.service"]
			for _, w := range tc.want {
				if !regexp.MustCompile(`(?m)` + w).MatchString(svc) {
					t.Errorf("no line %s in\n%s", w, svc)
				}
			}
			verify(t, files)
		})
	}
}
