package procfile

import (
	"fmt"
	"sort"
	"strings"
)

// dependsOn reads `depends_on`: a list of names (each "ready") or a table
// NAME = "started" | "ready" | "completed".
func (l *loader) dependsOn(k string, v any) []Dependency {
	var deps []Dependency
	seen := map[string]bool{}
	add := func(name string, c Condition) {
		if seen[name] {
			l.errf(l.line(k), "%s: %q is listed twice", k, name)
			return
		}
		seen[name] = true
		deps = append(deps, Dependency{Name: name, Condition: c})
	}
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			name, ok := e.(string)
			if !ok || name == "" {
				l.errf(l.line(k), "%s: %s: want process names", k, tomlValue(e))
				continue
			}
			add(name, ConditionReady)
		}
	case map[string]any:
		names := make([]string, 0, len(x))
		for name := range x {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			s, _ := x[name].(string)
			switch c := Condition(s); c {
			case ConditionStarted, ConditionReady, ConditionCompleted:
				add(name, c)
			default:
				l.errf(l.line(k+"."+name), "%s.%s: %s: want \"started\", \"ready\" or \"completed\"", k, tomlKey(name), tomlValue(x[name]))
			}
		}
	default:
		l.errf(l.line(k), "%s: want a list of process names such as [\"redis\"], or a table such as { redis = \"ready\", migrate = \"completed\" }", k)
	}
	return deps
}

// checkDepends checks depends_on across the types: every name is another
// type, `completed` is on a type that can complete, and there is no cycle
// (each one is named, "web -> api -> web").
func (l *loader) checkDepends(procs []*Process) {
	byName := map[string]*Process{}
	var names []string
	for _, p := range procs {
		byName[p.Name] = p
		names = append(names, p.Name)
	}
	at := func(p *Process) (string, int) {
		k := "process." + p.Name + ".depends_on"
		return k, l.line(k)
	}
	for _, p := range procs {
		k, line := at(p)
		for _, d := range p.DependsOn {
			dep := byName[d.Name]
			switch {
			case d.Name == p.Name:
				l.errf(line, "%s: %s depends on itself, so it could never start", k, p.Name)
			case dep == nil:
				msg := fmt.Sprintf("%s: unknown process type %q (have %s)", k, d.Name, strings.Join(names, ", "))
				if s := closest(d.Name, names); s != "" {
					msg += fmt.Sprintf("; did you mean %q?", s)
				}
				l.errf(line, "%s", msg)
			case d.Condition == ConditionCompleted && dep.Restart == RestartAlways:
				l.errf(line, "%s: %s = \"completed\", but %s has restart = \"always\": a type that is restarted forever never completes; set restart = \"never\" or \"on-failure\" on %s", k, tomlKey(d.Name), d.Name, d.Name)
			}
		}
	}

	// Depth-first in file order; a dependency met again while on the
	// stack closes a cycle.
	const (
		unseen = iota
		onStack
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(p *Process)
	visit = func(p *Process) {
		state[p.Name] = onStack
		stack = append(stack, p.Name)
		for _, d := range p.DependsOn {
			dep := byName[d.Name]
			if dep == nil || dep == p {
				continue
			}
			switch state[d.Name] {
			case unseen:
				visit(dep)
			case onStack:
				i := len(stack) - 1
				for stack[i] != d.Name {
					i--
				}
				cycle := append(append([]string{}, stack[i:]...), d.Name)
				first := byName[cycle[0]]
				k, line := at(first)
				l.errf(line, "%s: a cycle: %s (none of these could ever start)", k, strings.Join(cycle, " -> "))
			}
		}
		stack = stack[:len(stack)-1]
		state[p.Name] = done
	}
	for _, p := range procs {
		if state[p.Name] == unseen {
			visit(p)
		}
	}
}
