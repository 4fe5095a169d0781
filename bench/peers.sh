#!/usr/bin/env bash
# Builds the peers the benchmarks compare with, hivemind and goreman, from the
# Go module proxy into a cache (once), and prints the directory that holds
# them, for PATH:
#   PATH="$(bash bench/peers.sh):$PATH" bash bench/startstop.sh
# bench/startstop.sh and bench/rss.sh call it themselves. `go install M@V` is
# not used: it also reads the module's version list, which a proxy may refuse
# while it serves the exact version. A peer that cannot be fetched or built is
# left out with a line on stderr, and the benchmarks skip it.
# CLUSTER_BENCH_PEERS=DIR sets the cache (default ~/.cache/cluster-bench).
set -uo pipefail
dir=${CLUSTER_BENCH_PEERS:-${XDG_CACHE_HOME:-$HOME/.cache}/cluster-bench}
mkdir -p "$dir/bin" "$dir/mod"
[ -f "$dir/mod/go.mod" ] || printf 'module peers\n\ngo 1.22\n' > "$dir/mod/go.mod"
for m in github.com/DarthSim/hivemind@v1.1.0 github.com/mattn/goreman@v0.3.15; do
	name=$(basename "${m%@*}")
	[ -x "$dir/bin/$name" ] && continue
	src=$(cd "$dir/mod" && go mod download -json "$m" 2> /dev/null | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	if [ -z "$src" ] || [ ! -d "$src" ]; then
		echo "$name: $m could not be downloaded, skipped" >&2
		continue
	fi
	rm -rf "$dir/src/$name"
	mkdir -p "$dir/src"
	cp -r "$src" "$dir/src/$name" && chmod -R u+w "$dir/src/$name"
	if ! (cd "$dir/src/$name" && CGO_ENABLED=0 go build -mod=mod -trimpath -ldflags '-s -w' -o "$dir/bin/$name" . > /dev/null 2>&1); then
		echo "$name: $m could not be built, skipped" >&2
		rm -f "$dir/bin/$name"
	fi
done
echo "$dir/bin"
