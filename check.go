package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/cluster-run/cluster/procfile"
	"github.com/cluster-run/cluster/runner"
)

// plan is what `cluster check` prints: the resolved configuration, defaults
// applied and "auto" resolved, per process type.
type plan struct {
	File            string        `json:"file"`
	Format          string        `json:"format"`
	Name            string        `json:"name"`
	ShutdownTimeout string        `json:"shutdown_timeout"`
	Processes       []processPlan `json:"processes"`
}

type processPlan struct {
	Name          string   `json:"name"`
	Argv          []string `json:"argv"`
	Shell         bool     `json:"shell"`
	Workers       int      `json:"workers"`
	WorkersAuto   bool     `json:"workers_auto"`
	Dir           string   `json:"dir"`
	Listen        []string `json:"listen"`
	Socket        string   `json:"socket,omitempty"`
	Restart       string   `json:"restart"`
	MaxRestarts   int      `json:"max_restarts"`
	RestartWindow string   `json:"restart_window"`
	StopSignal    string   `json:"stop_signal"`
	StopTimeout   string   `json:"stop_timeout"`
	KillMode      string   `json:"kill_mode"`
	Ready         string   `json:"ready"`
	ReadyTimeout  string   `json:"ready_timeout"`
	Watch         []string `json:"watch"`
	WatchIgnore   []string `json:"watch_ignore"`
	WatchPoll     string   `json:"watch_poll,omitempty"`
	MaxMemory     int64    `json:"max_memory,omitempty"`
	User          string   `json:"user,omitempty"`
}

func readyString(r procfile.Ready) string {
	switch r.Kind {
	case procfile.ReadyLog:
		if r.Log != nil {
			return fmt.Sprintf("log %q", r.Log.String())
		}
	case procfile.ReadyHTTP:
		return "http " + r.HTTP
	case procfile.ReadyDelay:
		return "delay " + r.Delay.String()
	}
	return string(r.Kind)
}

func makePlan(cfg *procfile.Config) (plan, error) {
	pl := plan{File: cfg.Path, Format: string(cfg.Format), Name: cfg.Name, ShutdownTimeout: cfg.ShutdownTimeout.String()}
	for _, p := range cfg.Processes {
		argv, err := p.Argv(p.Env)
		if err != nil {
			return pl, fmt.Errorf("%s: %w", p.Name, err)
		}
		pp := processPlan{
			Name: p.Name, Argv: argv, Shell: p.Shell, Workers: p.Workers, WorkersAuto: p.WorkersAuto,
			Dir: p.Dir, Listen: []string{}, Restart: string(p.Restart), MaxRestarts: p.MaxRestarts,
			RestartWindow: p.RestartWindow.String(), StopSignal: signalString(p), StopTimeout: p.StopTimeout.String(),
			KillMode: string(p.KillMode), Ready: readyString(p.Ready), ReadyTimeout: p.Ready.Timeout.String(),
			Watch: orEmpty(p.Watch), WatchIgnore: orEmpty(p.WatchIgnore), MaxMemory: p.MaxMemory, User: p.User,
		}
		if p.WatchPoll > 0 {
			pp.WatchPoll = p.WatchPoll.String()
		}
		for _, a := range p.Listen {
			pp.Listen = append(pp.Listen, a.Raw)
		}
		if len(p.Listen) > 0 {
			pp.Socket = string(p.Socket)
		}
		pl.Processes = append(pl.Processes, pp)
	}
	return pl, nil
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func signalString(p *procfile.Process) string {
	return runner.SignalName(p.StopSignal)
}

func printPlan(w io.Writer, cfg *procfile.Config, asJSON bool) error {
	pl, err := makePlan(cfg)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(pl)
	}
	fmt.Fprintf(w, "%s: %s %q, shutdown_timeout %s, %d process types\n", pl.File, pl.Format, pl.Name, pl.ShutdownTimeout, len(pl.Processes))
	for _, p := range pl.Processes {
		tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
		workers := fmt.Sprint(p.Workers)
		if p.WorkersAuto {
			workers += " (auto: one per CPU)"
		}
		if p.Workers == 0 {
			workers += " (disabled)"
		}
		fmt.Fprintf(w, "\n[%s]\n", p.Name)
		fmt.Fprintf(tw, "  argv\t%s\n", quoteArgv(p.Argv))
		fmt.Fprintf(tw, "  workers\t%s\n", workers)
		fmt.Fprintf(tw, "  dir\t%s\n", p.Dir)
		if len(p.Listen) > 0 {
			fmt.Fprintf(tw, "  listen\t%s (socket %s)\n", strings.Join(p.Listen, ", "), p.Socket)
		} else {
			fmt.Fprintf(tw, "  listen\tnone (PORT from foreman's scheme)\n")
		}
		fmt.Fprintf(tw, "  restart\t%s, at most %d crashes in %s\n", p.Restart, p.MaxRestarts, p.RestartWindow)
		fmt.Fprintf(tw, "  stop\t%s, SIGKILL after %s, kill_mode %s\n", p.StopSignal, p.StopTimeout, p.KillMode)
		fmt.Fprintf(tw, "  ready\t%s (timeout %s)\n", p.Ready, p.ReadyTimeout)
		if len(p.Watch) > 0 {
			poll := "inotify"
			if p.WatchPoll != "" {
				poll = "poll every " + p.WatchPoll
			}
			fmt.Fprintf(tw, "  watch\t%s (%s; ignore %s)\n", strings.Join(p.Watch, " "), poll, strings.Join(p.WatchIgnore, " "))
		}
		if p.MaxMemory > 0 {
			fmt.Fprintf(tw, "  max_memory\t%d bytes\n", p.MaxMemory)
		}
		if p.User != "" {
			fmt.Fprintf(tw, "  user\t%s\n", p.User)
		}
		tw.Flush()
	}
	return nil
}

func quoteArgv(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t\n\"'\\$") {
			q[i] = fmt.Sprintf("%q", a)
		} else {
			q[i] = a
		}
	}
	return strings.Join(q, " ")
}
