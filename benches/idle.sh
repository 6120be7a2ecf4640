#!/usr/bin/env bash
# Idle footprint of `driftwatch serve`: RSS and CPU of a daemon with jobs and a
# source configured, between ticks, before any embedding model is loaded.
#
# Usage: benches/idle.sh [BINARY] [SECONDS]
#   BINARY  default target/release/driftwatch (cargo build --release)
#   SECONDS idle measurement window, default 60
#   SEMANTIC=1 enables the semantic stage of one job, so the embedding model is
#   loaded at start (needs scripts/fetch-model.sh; models/ in the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-${CARGO_TARGET_DIR:-target}/release/driftwatch}
secs=${2:-60}
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 20000))
semantic=false; [ -n "${SEMANTIC:-}" ] && semantic=true
mkdir -p "$work/logs"
cat > "$work/idle.toml" <<TOML
[store]
url = "sqlite://$work/idle.db"
[embedding]
model_dir = "$PWD/models/all-MiniLM-L6-v2"
onnxruntime_lib = "$PWD/models/onnxruntime/libonnxruntime.so"
[server]
bind = "127.0.0.1:$port"
allow_unauthenticated = true
[[jobs]]
name = "hourly"
schedule = "0 0 * * * *"
golden_set = "g"
[jobs.semantic]
enabled = false
[[jobs]]
name = "nightly"
schedule = "0 0 3 * * *"
golden_set = "g"
[jobs.semantic]
enabled = false
[[jobs]]
name = "semantic-nightly"
schedule = "0 30 3 * * *"
golden_set = "g"
[jobs.semantic]
enabled = $semantic
[[sources]]
name = "applog"
kind = "jsonl"
path = "$work/logs/*.jsonl"
poll_interval = "5s"
TOML
"$bin" --config "$work/idle.toml" serve 2> "$work/serve.log" &
pid=$!
for _ in $(seq 1 50); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.2
done
sleep 5
clk=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
c0=$(cpu); t0=$(date +%s.%N)
peak=0
for _ in $(seq 1 "$secs"); do
  r=$(rss_kb); [ "$r" -gt "$peak" ] && peak=$r
  sleep 1
done
c1=$(cpu); t1=$(date +%s.%N)
curl -s "http://127.0.0.1:$port/metrics" >/dev/null
after_scrape=$(rss_kb)
awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v clk="$clk" -v peak="$peak" -v rss="$(rss_kb)" -v scr="$after_scrape" 'BEGIN {
  wall = t1 - t0; cpu = (c1 - c0) / clk;
  printf "idle window     %.1f s\n", wall;
  printf "CPU time        %.3f s (%.3f%% of one core)\n", cpu, 100 * cpu / wall;
  printf "RSS now         %.1f MiB\n", rss / 1024;
  printf "RSS peak (idle) %.1f MiB\n", peak / 1024;
  printf "RSS after a /metrics scrape %.1f MiB\n", scr / 1024;
}'
