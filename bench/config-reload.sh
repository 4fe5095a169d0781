#!/usr/bin/env bash
# Save-to-serving latency in watch mode: save the Clusterfile with a changed
# env value and measure until a replacement worker answers HTTP, over EDITS
# saves (each waits for the reload to finish). Includes the 100 ms debounce
# and the demo worker's start-up.
#   bash bench/config-reload.sh [EDITS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
go build -o "$tmp/cluster" .
go build -o "$tmp/hello" ./examples/hello
port=18931
write() {
  cat > "$tmp/Clusterfile.new" <<TOML
[process.web]
command = "$tmp/hello"
workers = 2
listen = "127.0.0.1:$port"
ready = { notify = true }
env = { EDIT = "$1" }
TOML
  mv "$tmp/Clusterfile.new" "$tmp/Clusterfile"   # as editors save
}
write 0
(cd "$tmp" && exec ./cluster run --watch --color never > out.txt 2>&1) &  # exec: the job is cluster itself, so the EXIT trap's kill reaches it
until [ "$(grep -c 'ready$' "$tmp/out.txt" 2>/dev/null)" -ge 2 ]; do sleep 0.05; done
pids() { grep -o 'web\.[0-9] started (pid [0-9]*)' "$tmp/out.txt" | grep -o '[0-9]*)$' | tr -d ')'; }
lat=()
for i in $(seq "$n"); do
  old=" $(pids | tr '\n' ' ')"
  t0=$(date +%s%N)
  write "$i"
  while :; do
    pid=$(curl -s --max-time 2 "http://127.0.0.1:$port/" | awk '{print $NF}')
    case "$old" in *" $pid "*|" ") ;; *) [ -n "$pid" ] && break ;; esac
  done
  t1=$(date +%s%N)
  lat+=($(( (t1 - t0) / 1000000 )))
  until [ "$(grep -c 'web reloaded' "$tmp/out.txt")" -ge "$i" ]; do sleep 0.01; done
done
printf '%s\n' "${lat[@]}" | sort -n | awk '{a[NR]=$1} END {printf "Clusterfile save to a new worker serving, over %d saves: min %d ms, median %d ms, max %d ms (includes the 100 ms debounce)\n", NR, a[1], a[int((NR+1)/2)], a[NR]}'
