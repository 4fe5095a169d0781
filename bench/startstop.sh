#!/usr/bin/env bash
# Start + stop of 2 one-line processes, in one hyperfine run per round,
# interleaved rounds.
#   bash bench/startstop.sh [ROUNDS] [RUNS]
# OLD=/path/to/cluster adds an older binary to each run.
# ALTERNATE=N instead runs cluster, hivemind (and OLD) one after the other,
# N times over, and prints each one's median: on a VM whose speed drifts
# from one second to the next, alternating single runs compare more
# fairly than hyperfine's blocks of runs.
# The work, the same for every tool: start two processes that each print one
# line and exit 0; the tool then ends. hivemind and goreman run every
# Procfile line as `/bin/sh -c LINE`, so the Clusterfile says shell = true:
# every tool starts the same two shells, whose builtin echo prints the line
# (without it, cluster would exec /usr/bin/echo, which loads the locale:
# other work, not the runner's). `cluster run` ends when every worker of a
# restart = "on-failure" type has exited cleanly; hivemind and goreman stop
# everything when one process exits. The floor is a shell that starts the
# same two echos and waits. The Go floor (bench/ptyfloor) is hivemind's core
# and nothing more: a Go program that runs each line by sh -c on its own
# pty, prefixes its lines and exits when both have exited; hivemind itself
# can only be slower. hivemind and goreman come from PATH, else bench/peers.sh
# builds them from the Go module proxy; a peer it cannot get is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
runs=${2:-40}
command -v hyperfine > /dev/null || { echo "hyperfine is not installed (apt-get install hyperfine)" >&2; exit 1; }
tmp=$(mktemp -d)
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; true; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
CGO_ENABLED=0 go build -trimpath -tags nethttpomithttp2 -ldflags '-s -w' -o "$tmp/cluster.built" . # as goreleaser.yaml
CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$tmp/ptyfloor.built" ./bench/ptyfloor
# Every binary runs from a fresh copy (installed the way a package or an
# archive installs it: written by write(2)). A file the linker just wrote
# through mmap sits in the page cache in small pages, and each start then
# takes more page faults: 0.7-1 ms more per start of cluster on a 2-core VM,
# which is not the program's cost.
cp "$tmp/cluster.built" "$tmp/cluster"
cp "$tmp/ptyfloor.built" "$tmp/ptyfloor"
cat > "$tmp/Clusterfile" <<'TOML'
[process.a]
command = "echo a"
shell = true
workers = 1
restart = "on-failure"

[process.b]
command = "echo b"
shell = true
workers = 1
restart = "on-failure"
TOML
printf 'a: echo a\nb: echo b\n' > "$tmp/Procfile"

cmds=("$tmp/cluster run -f $tmp/Clusterfile" "sh -c 'echo a & echo b & wait'" "$tmp/ptyfloor 'echo a' 'echo b'")
names=(cluster floor gofloor)
peers=$(bash bench/peers.sh)
for peer in hivemind goreman; do
	p=$(command -v "$peer" || ls "$peers/$peer" 2>/dev/null || true)
	if [ -z "$p" ]; then
		echo "$peer: not installed, skipped"
		continue
	fi
	cp "$p" "$tmp/$peer" # a fresh copy, as for cluster
	p=$tmp/$peer
	case $peer in
	hivemind) cmds+=("$p --root $tmp $tmp/Procfile") ;;
	goreman) cmds+=("$p -f $tmp/Procfile start") ;;
	esac
	names+=("$peer")
done
if [ -n "${OLD:-}" ]; then
	cp "$OLD" "$tmp/old"
	cmds+=("$tmp/old run -f $tmp/Clusterfile")
	names+=(old)
fi

if [ -n "${ALTERNATE:-}" ]; then
	alt=(0) # cluster, then hivemind and old where present
	for i in "${!names[@]}"; do
		case ${names[$i]} in hivemind | old) alt+=("$i") ;; esac
	done
	for j in $(seq "$ALTERNATE"); do
		for i in "${alt[@]}"; do
			t0=$EPOCHREALTIME
			eval "${cmds[$i]}" > /dev/null 2>&1 < /dev/null
			t1=$EPOCHREALTIME
			echo "$(((${t1/./} - ${t0/./})))" >> "$tmp/alt.$i"
		done
	done
	line="alternating, $ALTERNATE runs each (medians):"
	for i in "${alt[@]}"; do
		eval "med_${names[$i]}=$(sort -n "$tmp/alt.$i" | awk '{v[NR]=$1} END{printf "%.2f", v[int((NR+1)/2)]/1000}')"
		v="med_${names[$i]}"
		line="$line ${names[$i]} ${!v} ms"
	done
	for n in hivemind old; do
		v="med_$n"
		[ -n "${!v:-}" ] && line="$line, cluster/$n $(awk -v a="$med_cluster" -v b="${!v}" 'BEGIN{printf "%.2f", a/b}')x"
	done
	echo "$line"
	exit 0
fi

k=${#cmds[@]}
for r in $(seq "$rounds"); do
	# Each round starts with a different command: hyperfine runs each
	# command's runs in one block, and the first block pays for a cold cache.
	order=()
	for j in $(seq 0 $((k - 1))); do order+=($(((j + r - 1) % k))); done
	rot=()
	for i in "${order[@]}"; do rot+=("${cmds[$i]}"); done
	hyperfine -N -w 3 -r "$runs" --export-csv "$tmp/r$r.csv" "${rot[@]}" > /dev/null 2>&1 < /dev/null
	# csv: command,mean,stddev,median,user,system,min,max (seconds), in rot's order.
	line="round $r:"
	for pos in "${!order[@]}"; do
		i=${order[$pos]}
		ms=$(awk -F, -v row=$((pos + 2)) 'NR==row{printf "%.2f", $4*1000}' "$tmp/r$r.csv")
		eval "med_${names[$i]}=$ms"
	done
	for i in "${!names[@]}"; do
		v="med_${names[$i]}"
		line="$line ${names[$i]} ${!v} ms"
	done
	line="$line; cluster/floor $(awk -v a="$med_cluster" -v b="$med_floor" 'BEGIN{printf "%.2f", a/b}')x"
	for n in gofloor hivemind goreman old; do
		v="med_$n"
		[ -n "${!v:-}" ] && line="$line, cluster/$n $(awk -v a="$med_cluster" -v b="${!v}" 'BEGIN{printf "%.2f", a/b}')x"
	done
	echo "$line (medians of $runs runs)"
done
