#!/usr/bin/env bash
# HTTP throughput and reload errors, all in one run on this machine, same app:
#   1. the demo app alone on one port
#   2. N copies sharing one socket under a 30-line launcher (bench/launcher)
#   3. cluster, socket = "inherit"
#   4. cluster, socket = "proxy"
#   5. nginx round-robin to N copies (when nginx is installed)
# then 5 rolling reloads in 20 s under keep-alive load.
#   bash bench/http.sh [WORKERS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-2}
secs=${2:-10}
if ! command -v wrk >/dev/null; then
  (apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y wrk >/dev/null 2>&1; }) || true
fi
command -v wrk >/dev/null || { echo "bench/http.sh: wrk is not installed and could not be (apt-get install wrk)"; exit 0; }
tmp=$(mktemp -d)
# cluster gives every worker its own session; with the kernel's autogroup
# scheduling each session is a CPU group of its own, which on one machine
# shifts CPU from wrk to the workers and makes runs incomparable. Measure
# with autogroup off (restored at exit) so only the data paths differ.
ag=/proc/sys/kernel/sched_autogroup_enabled
ag_was=$(cat "$ag" 2>/dev/null || echo "")
# Restored on every exit path: normal end, error (set -e), Ctrl-C, TERM, HUP.
cleanup() { kill $(jobs -p) 2>/dev/null || true; [ -f "$tmp/nginx.pid" ] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"; [ "$ag_was" = 1 ] && echo 1 > "$ag" 2>/dev/null; true; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
if [ "$ag_was" = 1 ] && echo 0 > "$ag" 2>/dev/null; then echo "(autogroup scheduling off for the run)"; fi
go build -o "$tmp/cluster" .
go build -o "$tmp/hello" ./examples/hello
go build -o "$tmp/launcher" ./bench/launcher

waitport() { for _ in $(seq 500); do curl -sf "http://127.0.0.1:$1/" >/dev/null 2>&1 && return 0; sleep 0.02; done; echo "port $1 never answered"; return 1; }
# wrk: "<req/s> <p99 ms>"
measure() {
  wrk -t2 -c64 -d"${secs}s" --latency "http://127.0.0.1:$1/" > "$tmp/wrk.txt"
  rps=$(awk '/^Requests\/sec/{print $2}' "$tmp/wrk.txt")
  p99=$(awk '$1=="99%"{v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' "$tmp/wrk.txt")
  echo "$rps $p99"
}
stopall() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; }
declare -A RPS P99

PORT=18081 "$tmp/hello" >/dev/null 2>&1 &
waitport 18081; read -r RPS[alone] P99[alone] < <(measure 18081); stopall

"$tmp/launcher" -listen 127.0.0.1:18082 -n "$n" -- "$tmp/hello" >/dev/null 2>&1 &
waitport 18082; read -r RPS[launcher] P99[launcher] < <(measure 18082); stopall

for mode in inherit proxy; do
  cat > "$tmp/Clusterfile" <<TOML
[process.web]
command = "$tmp/hello"
workers = $n
listen = "127.0.0.1:18083"
socket = "$mode"
TOML
  "$tmp/cluster" run -f "$tmp/Clusterfile" --color never >"$tmp/cluster-$mode.log" 2>&1 &
  waitport 18083; sleep 1.5
  read -r RPS[$mode] P99[$mode] < <(measure 18083); stopall
done

if command -v nginx >/dev/null; then
  ups=""
  for i in $(seq "$n"); do
    PORT=$((18090 + i)) "$tmp/hello" >/dev/null 2>&1 &
    ups="$ups server 127.0.0.1:$((18090 + i));"
    waitport $((18090 + i))
  done
  cat > "$tmp/nginx.conf" <<NGINX
worker_processes $n; pid $tmp/nginx.pid; error_log $tmp/nginx.err; daemon on;
events { worker_connections 4096; }
http { access_log off; upstream app { $ups keepalive 64; }
  server { listen 127.0.0.1:18085; location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
NGINX
  nginx -c "$tmp/nginx.conf" -p "$tmp"
  waitport 18085; read -r RPS[nginx] P99[nginx] < <(measure 18085)
  kill "$(cat "$tmp/nginx.pid")"; stopall
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b>0) printf "%.2f", a/b; else print "-" }'; }
printf '\n%-34s %12s %10s %12s\n' "setup ($n workers, wrk -t2 -c64 ${secs}s)" "req/s" "p99 ms" "x app alone"
for k in alone launcher inherit proxy nginx; do
  [ -n "${RPS[$k]:-}" ] || continue
  printf '%-34s %12s %10s %12s\n' "$k" "${RPS[$k]}" "${P99[$k]}" "$(ratio "${RPS[$k]}" "${RPS[alone]}")"
done
echo
echo "inherit / launcher baseline: $(ratio "${RPS[inherit]}" "${RPS[launcher]}")   (target >= 0.97)"
[ -n "${RPS[nginx]:-}" ] && echo "proxy / nginx:               $(ratio "${RPS[proxy]}" "${RPS[nginx]}")   (target >= 1.0)"

# Reload under keep-alive load: 5 rolling reloads in 20 s.
for mode in inherit proxy; do
  cat > "$tmp/Clusterfile" <<TOML
[process.web]
command = "$tmp/hello"
workers = $n
listen = "127.0.0.1:18083"
socket = "$mode"
ready = { log = "listening on" }
TOML
  "$tmp/cluster" run -f "$tmp/Clusterfile" --color never >"$tmp/reload-$mode.log" 2>&1 &
  cl=$!
  waitport 18083
  wrk -t2 -c32 -d20s "http://127.0.0.1:18083/" > "$tmp/wrk-reload.txt" &
  w=$!
  for i in 1 2 3 4 5; do sleep 3.5; kill -HUP "$cl"; done
  wait "$w"
  errs=$(awk '/Socket errors/{print}' "$tmp/wrk-reload.txt")
  non2xx=$(awk '/Non-2xx/{print $NF}' "$tmp/wrk-reload.txt")
  reqs=$(awk '/requests in/{print $1}' "$tmp/wrk-reload.txt")
  reloaded=$(grep -c 'web reloaded' "$tmp/reload-$mode.log" || true)
  echo "reload under keep-alive load ($mode): $reqs requests, $reloaded/5 reloads done, ${errs:-Socket errors: none}, non-2xx: ${non2xx:-0}"
  kill -TERM "$cl"; wait "$cl" 2>/dev/null || true
done
