#!/usr/bin/env bash
# Store-outage drill: runs `driftwatch serve` on a PostgreSQL database, STOPS the
# local PostgreSQL cluster for a while, starts it again, and checks that the same
# daemon process recovers (readyz back to 200, new runs succeed) without a restart.
#
# It stops the machine's real cluster, so do not run it while other things use
# PostgreSQL (e.g. the test suite). The automated test of the same behaviour
# (tests/it/daemon.rs, the_daemon_survives_the_store_going_away_and_recovers)
# cuts connections with a proxy instead, so it can run beside other tests.
#
# Usage: scripts/pg-outage-drill.sh [OUTAGE_SECONDS]   (default 15)
set -euo pipefail
cd "$(dirname "$0")/.."
outage=${1:-15}
scripts/ensure-postgres.sh
version=$(ls /etc/postgresql | sort -V | tail -n 1)
cargo build --quiet
bin=${CARGO_TARGET_DIR:-target}/debug/driftwatch
db=dw_drill_$$
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true
  pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || true
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $db"
url="postgres://postgres@127.0.0.1:5432/$db"
"$bin" demo --generate 2000 --out "$work/traces.jsonl" >/dev/null
"$bin" --database "$url" ingest "$work/traces.jsonl" >/dev/null || true
head -n 200 "$work/traces.jsonl" | sed 's/"output"/"expected_output"/' > "$work/golden.jsonl"
"$bin" --database "$url" golden import "$work/golden.jsonl" --set g --no-embed >/dev/null
cat > "$work/drill.toml" <<TOML
[store]
url = "$url"
[server]
bind = "127.0.0.1:$port"
allow_unauthenticated = true
[[jobs]]
name = "drill"
schedule = "*/5 * * * * *"
window = "30d"
sample_size = 500
golden_set = "g"
language_detection = false
settle_delay = "0s"
[jobs.semantic]
enabled = false
TOML
"$bin" --config "$work/drill.toml" serve 2> "$work/daemon.log" &
pid=$!
ready() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz" || true; }
runs() { psql -tA -h 127.0.0.1 -U postgres -d "$db" -c "SELECT count(*) FROM runs WHERE status = 'succeeded'"; }
for _ in $(seq 1 60); do [ "$(ready)" = 200 ] && break; sleep 1; done
sleep 6
echo "before outage: readyz $(ready), succeeded runs $(runs)"
echo "stopping PostgreSQL $version for ${outage}s"
pg_ctlcluster --skip-systemctl-redirect "$version" main stop -m fast
sleep 3
echo "during outage: readyz $(ready) (daemon pid $pid alive: $(kill -0 $pid 2>/dev/null && echo yes || echo NO))"
sleep "$outage"
pg_ctlcluster --skip-systemctl-redirect "$version" main start
scripts/ensure-postgres.sh
before=$(runs)
for _ in $(seq 1 60); do [ "$(ready)" = 200 ] && break; sleep 1; done
sleep 12
after=$(runs)
echo "after outage: readyz $(ready), succeeded runs $before -> $after"
kill -0 "$pid" 2>/dev/null || { echo "FAIL: daemon died"; tail -20 "$work/daemon.log"; exit 1; }
[ "$after" -gt "$before" ] || { echo "FAIL: no run succeeded after the outage"; tail -20 "$work/daemon.log"; exit 1; }
echo "OK: the daemon recovered without a restart"
