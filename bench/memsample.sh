#!/usr/bin/env bash
# max_memory sampling cost: the runner's CPU with 32 idle `sleep` workers
# and max_memory set, minus the same runner's CPU with no max_memory (the
# baseline, which samples nothing), over the same wall time, in interleaved
# rounds. CPU is the sum of /proc/PID/task/*/schedstat (nanoseconds).
#   bash bench/memsample.sh [WORKERS] [SECONDS] [ROUNDS]
# OLD=/path/to/cluster adds an older binary's sampling cost to each round.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-32}
secs=${2:-20}
rounds=${3:-3}
tmp=$(mktemp -d)
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; true; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
CGO_ENABLED=0 go build -trimpath -tags nethttpomithttp2 -ldflags '-s -w' -o "$tmp/cluster" . # as goreleaser.yaml

for limit in no yes; do
	{
		echo '[process.sleep]'
		echo 'command = "sleep 100000"'
		echo "workers = $n"
		[ "$limit" = yes ] && echo 'max_memory = "1GiB"'
	} > "$tmp/$limit.toml"
done
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s+=$1} END {print s+0}'; }

# run BINARY FILE: prints the runner's CPU in ns over $secs once all started.
run() {
	"$1" run -f "$2" --log-format json > "$tmp/out" 2>&1 &
	local pid=$!
	local deadline=$((SECONDS + 60))
	while [ "$(grep -c '"event":"started"' "$tmp/out" || true)" -lt "$n" ]; do
		[ $SECONDS -lt $deadline ] || { echo "workers did not start" >&2; exit 1; }
		sleep 0.1
	done
	sleep 6 # the first samples and start-up settle (the trim after start-up: memtrim.go)
	local c0 t0 c1 t1
	c0=$(cpu_ns "$pid"); t0=$(date +%s%N)
	sleep "$secs"
	c1=$(cpu_ns "$pid"); t1=$(date +%s%N)
	kill -TERM "$pid"; wait "$pid" || true
	echo "$((c1 - c0)) $((t1 - t0))"
}
pct() { awk -v a="$1" -v w="$2" 'BEGIN{printf "%.4f", a/w*100}'; }

printf 'workers %d, %d s per run, %d rounds; cost = CPU %% with max_memory - CPU %% without\n' "$n" "$secs" "$rounds"
for r in $(seq "$rounds"); do
	read -r b bw < <(run "$tmp/cluster" "$tmp/no.toml")
	read -r m mw < <(run "$tmp/cluster" "$tmp/yes.toml")
	base=$(pct "$b" "$bw"); with=$(pct "$m" "$mw")
	line=$(printf 'round %d: without %s %%, with %s %%, sampling costs %s %% of a core (target <= 0.05 %%: %sx the target)' \
		"$r" "$base" "$with" "$(awk -v a="$with" -v b="$base" 'BEGIN{printf "%.4f", a-b}')" \
		"$(awk -v a="$with" -v b="$base" 'BEGIN{printf "%.2f", (a-b)/0.05}')")
	if [ -n "${OLD:-}" ]; then
		read -r o ow < <(run "$OLD" "$tmp/yes.toml")
		line="$line; OLD with $(pct "$o" "$ow") %, costs $(awk -v a="$(pct "$o" "$ow")" -v b="$base" 'BEGIN{printf "%.4f", a-b}') %"
	fi
	echo "$line"
done
