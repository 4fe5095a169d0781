#!/usr/bin/env bash
# Change-to-restart latency through cluster: write a watched file, measure
# until the replacement worker's first output line, over 20 edits.
#   bash bench/watch-reload.sh [EDITS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
go build -o "$tmp/cluster" .
mkdir "$tmp/src"
cat > "$tmp/Clusterfile" <<'TOML'
[process.app]
command = "sh -c 'echo \"first line $(date +%s%N)\"; exec sleep 1000'"
workers = 1
watch = ["src/**"]
TOML
(cd "$tmp" && exec ./cluster run --watch --color never > out.txt 2>&1) &  # exec: the job is cluster itself, so the EXIT trap's kill reaches it
until grep -q 'app.1 ready' "$tmp/out.txt" 2>/dev/null; do sleep 0.05; done
lat=()
for i in $(seq "$n"); do
  before=$(grep -c 'first line' "$tmp/out.txt")
  t0=$(date +%s%N)
  echo "edit $i" > "$tmp/src/file.txt"
  until [ "$(grep -c 'first line' "$tmp/out.txt")" -gt "$before" ]; do sleep 0.005; done
  t1=$(grep 'first line' "$tmp/out.txt" | tail -1 | awk '{print $NF}')
  lat+=($(( (t1 - t0) / 1000000 )))
  until [ "$(grep -c 'app reloaded' "$tmp/out.txt")" -ge "$i" ]; do sleep 0.01; done
done
printf '%s\n' "${lat[@]}" | sort -n | awk '{a[NR]=$1} END {printf "change-to-restart over %d edits: min %d ms, median %d ms, max %d ms (includes the 100 ms debounce)\n", NR, a[1], a[int((NR+1)/2)], a[NR]}'
