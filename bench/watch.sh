#!/usr/bin/env bash
# Benchmark of the watch package on a large tree: 20,000 files in 2,000
# directories plus a node_modules of 50,000 files. Prints the time for
# watch.New (initial walk + watches), the inotify watches held, the RSS after
# setup, and change-to-batch latency over 20 edits, against a baseline that
# watches every directory. Run from the repo root: bash bench/watch.sh
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
go build -o "$tmp/benchwatch" ./watch/internal/benchwatch
"$tmp/benchwatch" build "$tmp/tree"
"$tmp/benchwatch" run "$tmp/tree"
