#!/usr/bin/env bash
# Supervisor overhead: cluster with 64 `sleep` workers next to the same 64
# started by a plain shell loop, measured in the same run.
#   bash bench/supervisor.sh [WORKERS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-64}
tmp=$(mktemp -d)
loop=
# The baseline's sleeps are children of the loop shell, not jobs of ours:
# kill them first (once the loop is gone they belong to init and pkill -P
# no longer finds them), then the jobs. On every exit path.
cleanup() { [ -n "$loop" ] && pkill -P "$loop" 2>/dev/null; kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; true; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
go build -o "$tmp/cluster" .

now_ns() { date +%s%N; }
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }          # utime+stime, 1/100 s
rss_kib() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
hz=$(getconf CLK_TCK)

# Baseline: a shell loop starts n sleeps; "started" = every fork returned.
t0=$(now_ns)
bash -c "for i in \$(seq $n); do sleep 1000 & done; echo \$\$ > $tmp/loop.pid; wait" &
loop=$!
while [ "$(pgrep -c -P "$loop" sleep 2>/dev/null || true)" -lt "$n" ]; do :; done
t1=$(now_ns)
base_ms=$(( (t1 - t0) / 1000000 ))
base_rss=$(rss_kib "$loop")
pkill -P "$loop" sleep 2>/dev/null || true; wait "$loop" 2>/dev/null || true; loop=

# cluster: time from exec to the n-th "started" event.
cat > "$tmp/Clusterfile" <<TOML
[process.sleep]
command = "sleep 1000"
workers = $n
TOML
t0=$(now_ns)
"$tmp/cluster" run -f "$tmp/Clusterfile" --log-format json > "$tmp/out.json" 2>&1 &
cl=$!
while [ "$(grep -c '"event":"started"' "$tmp/out.json" 2>/dev/null || true)" -lt "$n" ]; do :; done
t1=$(now_ns)
cl_ms=$(( (t1 - t0) / 1000000 ))

# Idle: CPU over 5 s and RSS of the runner.
c0=$(ticks "$cl"); s0=$(now_ns)
sleep 5
c1=$(ticks "$cl"); s1=$(now_ns)
idle_cpu=$(awk -v c=$((c1 - c0)) -v hz="$hz" -v ns=$((s1 - s0)) 'BEGIN{printf "%.3f", c/hz/(ns/1e9)*100}')
cl_rss=$(rss_kib "$cl")
kill -TERM "$cl"; wait "$cl" || true

printf 'workers                          %d\n' "$n"
printf 'start all, shell loop            %d ms\n' "$base_ms"
printf 'start all, cluster run           %d ms   (%.2fx the shell loop)\n' "$cl_ms" "$(awk -v a="$cl_ms" -v b="$base_ms" 'BEGIN{print (b>0)?a/b:0}')"
printf 'idle CPU of the runner           %s %% of one core over 5 s\n' "$idle_cpu"
printf 'RSS, shell loop                  %d KiB\n' "$base_rss"
printf 'RSS, cluster runner              %d KiB   (%.2fx the shell)\n' "$cl_rss" "$(awk -v a="$cl_rss" -v b="$base_rss" 'BEGIN{print a/b}')"
