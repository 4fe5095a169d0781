package procfile

import (
	"strings"
	"testing"
)

func TestDependsOn(t *testing.T) {
	cfg, err := loadIn(t, nil, 1, "Clusterfile", `[process.web]
command = "web"
depends_on = { redis = "ready", migrate = "completed", log = "started" }
[process.redis]
command = "redis"
[process.migrate]
command = "migrate"
restart = "never"
[process.log]
command = "log"
[process.api]
command = "api"
depends_on = ["redis"]
`)
	if err != nil {
		t.Fatal(err)
	}
	web := cfg.Processes[0]
	want := []Dependency{{"log", ConditionStarted}, {"migrate", ConditionCompleted}, {"redis", ConditionReady}}
	if len(web.DependsOn) != len(want) {
		t.Fatalf("web.DependsOn = %v, want %v", web.DependsOn, want)
	}
	for i := range want {
		if web.DependsOn[i] != want[i] {
			t.Fatalf("web.DependsOn = %v, want %v", web.DependsOn, want)
		}
	}
	if api := cfg.Processes[4]; len(api.DependsOn) != 1 || api.DependsOn[0] != (Dependency{"redis", ConditionReady}) {
		t.Fatalf("api.DependsOn = %v", api.DependsOn)
	}
	var order []string
	for _, p := range cfg.StartOrder() {
		order = append(order, p.Name)
	}
	// Stable by file order: redis, migrate, log come first as written, then
	// web (which waits for them), then api.
	if got := strings.Join(order, " "); got != "redis migrate log web api" {
		t.Fatalf("StartOrder = %s", got)
	}
}

func TestDependsOnRejected(t *testing.T) {
	cases := []struct {
		name, file string
		want       []string
	}{
		{"unknown name", `[process.web]
command = "x"
depends_on = ["redsi"]
[process.redis]
command = "x"
`, []string{`Clusterfile:3: process.web.depends_on: unknown process type "redsi" (have web, redis); did you mean "redis"?`}},
		{"unknown condition", `[process.web]
command = "x"
depends_on = { redis = "healthy" }
[process.redis]
command = "x"
`, []string{`Clusterfile:3: process.web.depends_on.redis: "healthy": want "started", "ready" or "completed"`}},
		{"condition not a string", `[process.web]
command = "x"
depends_on = { redis = 1 }
[process.redis]
command = "x"
`, []string{`Clusterfile:3: process.web.depends_on.redis: 1: want "started", "ready" or "completed"`}},
		{"not a list or table", `[process.web]
command = "x"
depends_on = "redis"
[process.redis]
command = "x"
`, []string{`Clusterfile:3: process.web.depends_on: want a list of process names such as ["redis"], or a table such as { redis = "ready", migrate = "completed" }`}},
		{"listed twice", `[process.web]
command = "x"
depends_on = ["redis", "redis"]
[process.redis]
command = "x"
`, []string{`Clusterfile:3: process.web.depends_on: "redis" is listed twice`}},
		{"self", `[process.web]
command = "x"
depends_on = ["web"]
`, []string{`Clusterfile:3: process.web.depends_on: web depends on itself, so it could never start`}},
		{"cycle", `[process.web]
command = "x"
depends_on = ["api"]
[process.api]
command = "x"
depends_on = { web = "started" }
`, []string{`Clusterfile:3: process.web.depends_on: a cycle: web -> api -> web (none of these could ever start)`}},
		{"longer cycle after a free type", `[process.redis]
command = "x"
[process.a]
command = "x"
depends_on = ["redis", "b"]
[process.b]
command = "x"
depends_on = ["c"]
[process.c]
command = "x"
depends_on = ["a"]
`, []string{`Clusterfile:5: process.a.depends_on: a cycle: a -> b -> c -> a (none of these could ever start)`}},
		{"completed on restart always", `[process.web]
command = "x"
depends_on = { migrate = "completed" }
[process.migrate]
command = "x"
`, []string{`Clusterfile:3: process.web.depends_on: migrate = "completed", but migrate has restart = "always": a type that is restarted forever never completes; set restart = "never" or "on-failure" on migrate`}},
		{"typo of the key", `[process.web]
command = "x"
depend_on = ["redis"]
`, []string{`Clusterfile:3: unknown key "depend_on" in [process.web] (did you mean "depends_on"?)`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := loadIn(t, nil, 1, "Clusterfile", c.file)
			if err == nil {
				t.Fatal("loaded without error")
			}
			if got := strings.Split(err.Error(), "\n"); strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Fatalf("error:\n%s\nwant:\n%s", err, strings.Join(c.want, "\n"))
			}
		})
	}
}

func TestDependsOnCompletedOnFailure(t *testing.T) {
	_, err := loadIn(t, nil, 1, "Clusterfile", `[process.web]
command = "x"
depends_on = { migrate = "completed" }
[process.migrate]
command = "x"
restart = "on-failure"
`)
	if err != nil {
		t.Fatal(err)
	}
}
