#!/usr/bin/env bash
# Runner RSS with idle workers, and after a burst of output: the static
# release build (CGO_ENABLED=0, -trimpath -s -w, the tags of goreleaser.yaml) of `cluster run` with 32
# `sleep` workers next to a bash that started the same 32 sleeps (the
# baseline), the Go floor (bench/ptyfloor: hivemind's core, each sleep on its
# own pty) and hivemind (from PATH, else built by bench/peers.sh), in
# interleaved rounds. RSS is split into file pages (the executable's, which
# grow with its size) and anonymous memory (heap, stacks, runtime).
#   bash bench/rss.sh [WORKERS] [LINES] [ROUNDS]
# Each worker waits on a fifo, so the runner is measured idle first; then
# every worker prints LINES lines and goes back to sleep, and once all are
# copied and 6 s have passed, the runner is measured again. Every program is
# measured 6 s after its processes are up: idle is how a runner spends its
# life, and `cluster` trims its memory (and the code pages start-up ran)
# after the first quiet second once every worker is ready (memtrim.go).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-32}
lines=${2:-20000}
rounds=${3:-3}
tmp=$(mktemp -d)
loop=
cleanup() { [ -n "$loop" ] && pkill -P "$loop" 2>/dev/null; kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; true; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
CGO_ENABLED=0 go build -trimpath -tags nethttpomithttp2 -ldflags '-s -w' -o "$tmp/cluster" . # as goreleaser.yaml
CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$tmp/ptyfloor" ./bench/ptyfloor
sleeps=()
for i in $(seq "$n"); do sleeps+=("exec sleep 100000"); done # ptyfloor runs each by sh -c
mkfifo "$tmp/go"
cat > "$tmp/Clusterfile" <<TOML
[process.w]
command = "sh -c 'cat $tmp/go > /dev/null; seq $lines; exec sleep 100000'"
workers = $n
TOML
for i in $(seq "$n"); do echo "w$i: sleep 100000"; done > "$tmp/Procfile"
rss_kib() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
split_mib() { awk '/^RssFile/{f=$2} /^RssAnon/{a=$2} END{printf "file %.2f + anon %.2f", f/1024, a/1024}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN{printf "%.2f", k/1024}'; }
wait_for() { # CMD... : poll until it succeeds, 60 s at most
	local deadline=$((SECONDS + 60))
	until "$@"; do
		[ $SECONDS -lt $deadline ] || { echo "timed out: $*" >&2; exit 1; }
		sleep 0.1
	done
}
hm=$(command -v hivemind || ls "$(bash bench/peers.sh)/hivemind" 2>/dev/null || true)
[ -n "$hm" ] || echo "hivemind: not installed, skipped"

started() { [ "$(grep -c ' started (pid' "$tmp/out" || true)" -ge "$n" ]; }
copied() { [ "$(grep -c '^w\.[0-9]* *| [0-9]' "$tmp/out" || true)" -ge $((n * lines)) ]; }
sleeps() { [ "$(pgrep -c -P "$loop" sleep || true)" -ge "$n" ]; }
floorsleeps() { [ "$(pgrep -c -P "$pf" sleep || true)" -ge "$n" ]; }
for r in $(seq "$rounds"); do
	# baseline: a shell with n sleeps
	bash -c "for i in \$(seq $n); do sleep 100000 & done; wait" &
	loop=$!
	wait_for sleeps
	sleep 1
	base=$(rss_kib "$loop")
	pkill -P "$loop" sleep || true; wait "$loop" 2>/dev/null || true; loop=

	"$tmp/cluster" run -f "$tmp/Clusterfile" --color never > "$tmp/out" 2>&1 &
	cl=$!
	wait_for started
	sleep 6
	idle=$(rss_kib "$cl")
	idle_split=$(split_mib "$cl")
	: > "$tmp/go" # every worker's cat is waiting to open the fifo: all print now
	wait_for copied
	sleep 6
	after=$(rss_kib "$cl")
	after_split=$(split_mib "$cl")
	kill -TERM "$cl"; wait "$cl" || true

	line="round $r: shell $(mib "$base") MiB; cluster idle $(mib "$idle") MiB ($(awk -v a="$idle" -v b="$base" 'BEGIN{printf "%.2f", a/b}')x the shell, $(awk -v a="$idle" 'BEGIN{printf "%.2f", a/1024/6.2}')x the 6.2 MiB target), $idle_split; after $n x $lines lines $(mib "$after") MiB (+$(mib $((after - idle))) MiB, target +1 MiB; $after_split)"
	# The Go floor: hivemind's core (bench/ptyfloor), the same sleeps each on its own pty.
	"$tmp/ptyfloor" "${sleeps[@]}" > /dev/null 2>&1 &
	pf=$!
	wait_for floorsleeps
	sleep 6
	floor=$(rss_kib "$pf")
	pkill -P "$pf" sleep || true
	wait "$pf" 2>/dev/null || true
	line="$line; Go floor $(mib "$floor") MiB (cluster idle $(awk -v a="$idle" -v b="$floor" 'BEGIN{printf "%.2f", a/b}')x)"
	if [ -n "$hm" ]; then
		"$hm" --root "$tmp" "$tmp/Procfile" > /dev/null 2>&1 &
		h=$!
		sleep 6
		hk=$(rss_kib "$h")
		line="$line; hivemind $(mib "$hk") MiB ($(split_mib "$h"); cluster idle $(awk -v a="$idle" -v b="$hk" 'BEGIN{printf "%.2f", a/b}')x)"
		kill -TERM "$h"; wait "$h" || true
	fi
	echo "$line"
done
