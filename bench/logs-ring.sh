#!/usr/bin/env bash
# What the log rings of `cluster logs` cost, before (BASE, default ab8f5cd:
# no rings) and after (this tree), in the same run on this machine:
#   1. runner RSS (VmRSS) once 32 workers have each printed 1,200 lines:
#      one type of 32 workers, and 8 types of 4 workers
#   2. time for 1,000,000 lines of one worker through `cluster run` to a file
# Each is measured 3 times, before and after alternating; medians printed.
#   bash bench/logs-ring.sh [BASE]
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-ab8f5cd}
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; true; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

go build -o "$tmp/after" .
mkdir "$tmp/src"
git archive "$base" | tar -x -C "$tmp/src"
(cd "$tmp/src" && go build -o "$tmp/before" .)

now_ns() { date +%s%N; }
rss_kib() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }

# clusterfile TYPES WORKERS: every worker prints 1,200 lines of 60 bytes, then sleeps.
clusterfile() {
  : > "$tmp/Clusterfile"
  for t in $(seq "$1"); do
    cat >> "$tmp/Clusterfile" <<TOML
[process.p$t]
command = "seq -f 'GET /api/v1/orders/%06g 200 OK 3.2ms user=42 bytes=512' 1 1200; exec sleep 1000"
shell = true
workers = $2
TOML
  done
}

# rss BIN TYPES WORKERS: the runner's VmRSS once every line is out.
rss() {
  clusterfile "$2" "$3"
  local want=$(( $2 * $3 * 1200 ))
  (cd "$tmp" && exec "$1" run --color never > "$tmp/out.txt" 2>&1) &
  pid=$!
  local deadline=$(( $(date +%s) + 60 ))
  while [ "$(grep -c ' | GET /api' "$tmp/out.txt" || true)" -lt "$want" ]; do
    kill -0 "$pid" 2>/dev/null || { echo "bench/logs-ring.sh: $1 run ended:" >&2; tail -3 "$tmp/out.txt" >&2; exit 1; }
    [ "$(date +%s)" -lt "$deadline" ] || { echo "bench/logs-ring.sh: $1 printed $(grep -c ' | GET /api' "$tmp/out.txt") of $want lines in 60 s" >&2; exit 1; }
    sleep 0.2
  done
  sleep 1 # let the runner settle after the burst (no synchronisation: the lines are all out)
  rss_kib "$pid"
  kill -TERM "$pid"; wait "$pid" || true; pid=
}

# burst BIN: ms for 1,000,000 lines of one worker to reach the output file.
burst() {
  cat > "$tmp/Clusterfile" <<'TOML'
[process.burst]
command = "sh -c 'seq -f \"line %07g of a worker in a hurry\" 1 1000000; echo burst done; exec sleep 1000'"
workers = 1
TOML
  local t0 t1
  t0=$(now_ns)
  (cd "$tmp" && exec "$1" run --color never > "$tmp/out.txt" 2>&1) &
  pid=$!
  until tail -c 300 "$tmp/out.txt" 2>/dev/null | grep -q 'burst done'; do
    kill -0 "$pid" 2>/dev/null || { echo "bench/logs-ring.sh: $1 run ended:" >&2; tail -3 "$tmp/out.txt" >&2; exit 1; }
    sleep 0.01
  done
  t1=$(now_ns)
  local cpu
  cpu=$(awk -v hz="$(getconf CLK_TCK)" '{print int(($14 + $15) * 1000 / hz)}' "/proc/$pid/stat")
  kill -TERM "$pid"; wait "$pid" || true; pid=
  echo "$(( (t1 - t0) / 1000000 )) $cpu"
}

declare -A r
for round in 1 2 3 4 5; do
  for bin in before after; do
    if [ "$round" -le 3 ]; then
      r[$bin.one]+="$(rss "$tmp/$bin" 1 32) "
      r[$bin.eight]+="$(rss "$tmp/$bin" 8 4) "
    fi
    read -r ms cpu < <(burst "$tmp/$bin")
    r[$bin.burst]+="$ms "
    r[$bin.cpu]+="$cpu "
  done
done
med() { tr ' ' '\n' <<<"${r[$1]}" | grep . | median; }
for layout in one eight; do
  b=$(med before.$layout); a=$(med after.$layout)
  label="1 type x 32 workers"; [ $layout = eight ] && label="8 types x 4 workers"
  printf 'runner RSS, %s, 1,200 lines each: before %d KiB, after %d KiB, delta %+d KiB (%+.2f MiB)\n' "$label" "$b" "$a" $((a - b)) "$(awk -v d=$((a - b)) 'BEGIN{print d/1024}')"
done
b=$(med before.burst); a=$(med after.burst)
printf '1,000,000 lines through cluster run, wall: before %d ms, after %d ms (%.2fx)\n' "$b" "$a" "$(awk -v a="$a" -v b="$b" 'BEGIN{print a/b}')"
b=$(med before.cpu); a=$(med after.cpu)
printf '1,000,000 lines through cluster run, runner CPU: before %d ms, after %d ms (%.2fx)\n' "$b" "$a" "$(awk -v a="$a" -v b="$b" 'BEGIN{print a/b}')"
for k in one eight burst cpu; do
  printf '(runs %-5s before: %s| after: %s)\n' "$k" "${r[before.$k]}" "${r[after.$k]}"
done
