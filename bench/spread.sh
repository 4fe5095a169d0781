#!/usr/bin/env bash
# How evenly connections spread over 4 demo workers, inherit mode (every
# worker accepts from the one shared socket; the kernel picks who wakes) next
# to proxy mode (the runner hands connections out round-robin), sequential,
# light and saturating clients, fresh connection per request.
#   bash bench/spread.sh [REQUESTS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-2000}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
go build -o "$tmp/cluster" .
go build -o "$tmp/hello" ./examples/hello
go build -o "$tmp/spread" ./bench/spread
port=18941
for mode in inherit proxy; do
  cat > "$tmp/Clusterfile" <<TOML
[process.web]
command = "$tmp/hello"
workers = 4
listen = "127.0.0.1:$port"
socket = "$mode"
ready = { notify = true }
TOML
  rm -f "$tmp/out.txt"
  (cd "$tmp" && exec ./cluster run --no-watch --color never > out.txt 2>&1) &
  pid=$!
  until [ "$(grep -c 'ready$' "$tmp/out.txt" 2>/dev/null)" -ge 4 ]; do sleep 0.05; done
  for c in 1 2 8 64; do
    "$tmp/spread" -url "http://127.0.0.1:$port/" -n "$n" -c "$c" -label "$mode"
  done
  kill -TERM "$pid"; wait "$pid" || true
done
