#!/usr/bin/env bash
# Supervisor overhead: cluster with N `sleep` workers next to the same N
# started by a plain shell loop, measured in the same run, in interleaved
# rounds.
#   bash bench/supervisor.sh [WORKERS] [ROUNDS]
# Start-up is polled every 5 ms, not in a busy loop: on a 2-core machine a
# busy poller takes a core from what it measures.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-64}
rounds=${2:-1}
tmp=$(mktemp -d)
loop=
cl=
# The baseline's sleeps are children of the loop shell, not jobs of ours:
# kill them first (once the loop is gone they belong to init and pkill -P
# no longer finds them), then the jobs. On every exit path.
cleanup() {
	[ -n "$loop" ] && pkill -P "$loop" 2>/dev/null
	[ -n "$cl" ] && kill -TERM "$cl" 2>/dev/null
	kill $(jobs -p) 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$tmp"
	true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
CGO_ENABLED=0 go build -trimpath -tags nethttpomithttp2 -ldflags '-s -w' -o "$tmp/cluster" . # as goreleaser.yaml

now_ns() { date +%s%N; }
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }          # utime+stime, 1/100 s
rss_kib() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
hz=$(getconf CLK_TCK)
cat > "$tmp/Clusterfile" <<TOML
[process.sleep]
command = "sleep 1000"
workers = $n
TOML

# Baseline: a shell loop starts n sleeps; "started" = every fork returned.
baseline() {
	local t0 t1
	t0=$(now_ns)
	bash -c "for i in \$(seq $n); do sleep 1000 & done; wait" &
	loop=$!
	while [ "$(pgrep -c -P "$loop" sleep 2>/dev/null || true)" -lt "$n" ]; do sleep 0.005; done
	t1=$(now_ns)
	base_ms=$(((t1 - t0) / 1000000))
	base_rss=$(rss_kib "$loop")
	pkill -P "$loop" sleep 2>/dev/null || true
	wait "$loop" 2>/dev/null || true
	loop=
}

# cluster: time from exec to the n-th "started" event, then idle CPU over
# 5 s (after 6 s to settle: the one trim after start-up is not idle work) and RSS.
clusterrun() {
	local t0 t1 c0 c1 s0 s1
	t0=$(now_ns)
	"$tmp/cluster" run -f "$tmp/Clusterfile" --log-format json > "$tmp/out.json" 2>&1 &
	cl=$!
	local c=0
	while [ "${c:-0}" -lt "$n" ]; do # grep prints nothing until the file exists
		sleep 0.005
		c=$(grep -c '"event":"started"' "$tmp/out.json" 2>/dev/null || true)
	done
	t1=$(now_ns)
	cl_ms=$(((t1 - t0) / 1000000))
	sleep 6 # start-up is over: the trim after it (memtrim.go) is not idle work
	c0=$(ticks "$cl")
	s0=$(now_ns)
	sleep 5
	c1=$(ticks "$cl")
	s1=$(now_ns)
	idle_cpu=$(awk -v c=$((c1 - c0)) -v hz="$hz" -v ns=$((s1 - s0)) 'BEGIN{printf "%.3f", c/hz/(ns/1e9)*100}')
	cl_rss=$(rss_kib "$cl")
	kill -TERM "$cl"
	wait "$cl" || true
	cl=
}

printf 'workers %d, %d round(s)\n' "$n" "$rounds"
for r in $(seq "$rounds"); do
	if [ $((r % 2)) -eq 1 ]; then baseline; clusterrun; else clusterrun; baseline; fi
	printf 'round %d: start all: shell loop %d ms, cluster %d ms (%.2f ms per worker, %.2fx the shell loop); idle CPU %s %% of a core; RSS shell %d KiB, runner %d KiB\n' \
		"$r" "$base_ms" "$cl_ms" "$(awk -v a="$cl_ms" -v n="$n" 'BEGIN{print a/n}')" \
		"$(awk -v a="$cl_ms" -v b="$base_ms" 'BEGIN{print (b>0)?a/b:0}')" "$idle_cpu" "$base_rss" "$cl_rss"
done
