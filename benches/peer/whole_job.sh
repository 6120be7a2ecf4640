#!/usr/bin/env bash
# The whole structural job from raw text, driftwatch vs Evidently, as whole
# processes on the same two JSONL files (issue 19):
#
#   benches/peer/whole_job.sh PROD.jsonl GOLDEN.jsonl [path/to/driftwatch]
#
# PROD.jsonl: `driftwatch demo --generate N --out PROD.jsonl`; GOLDEN.jsonl:
# `benches/peer/make_golden.py` (see BENCHMARKS.md, "Structural run").
#
# driftwatch: a fresh SQLite store and config in a temp dir (one job, window
# 3650d so the generated timestamps are inside it, sample_size = the production
# line count so the whole window is used, output_format json, semantic stage
# off), then three processes: `ingest PROD`, `golden import GOLDEN --no-embed`,
# `run JOB --json`, each timed, and their sum; then, as a fourth process on its
# own, `compare GOLDEN PROD --job JOB --json`: the same structural checks from
# the two files with no store (exit 4, "drifted", counts as success).
# Evidently: `evidently_whole.py PROD GOLDEN`, one process (imports, JSONL load,
# text descriptors, DataDriftPreset on the descriptor columns).
#
# Prints wall time, CPU time (user+sys) and peak RSS of each process (GNU
# /usr/bin/time -v), and the drifted metric names of each tool. The two tools'
# columns are not the same metrics (see evidently_whole.py), so they are listed,
# not compared. Needs jq and `python3 -m pip install evidently "pandas<3"`.
set -euo pipefail

usage="usage: $0 PROD.jsonl GOLDEN.jsonl [driftwatch binary]"
prod=$(realpath "${1:?$usage}")
golden=$(realpath "${2:?$usage}")
dw=$(realpath "${3:-./target/release/driftwatch}")
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

rows=$(grep -c . "$prod")
cfg=$out/bench.toml
cat >"$cfg" <<EOF
[store]
url = "sqlite://$out/bench.db"

[[jobs]]
name = "whole"
window = "3650d"
sample_size = $rows
golden_set = "whole"
output_format = "json"

[jobs.semantic]
enabled = false
EOF
"$dw" --config "$cfg" check-config >/dev/null

# name, command... -> $out/NAME.json (stdout), $out/NAME.time, one line in $out/rows
measure() {
    local name=$1
    shift
    local rc=0
    /usr/bin/time -v "$@" >"$out/$name.json" 2>"$out/$name.time" || rc=$?
    if [ "$rc" -ne 0 ] && ! { [ "$name" = dw-compare ] && [ "$rc" -eq 4 ]; }; then
        echo "$name failed (exit $rc):" >&2
        tail -n 30 "$out/$name.time" >&2
        exit 1
    fi
    awk -v name="$name" -F': ' '
        /Elapsed \(wall clock\)/ { n = split($2, p, ":"); wall = (n == 3) ? p[1]*3600 + p[2]*60 + p[3] : p[1]*60 + p[2] }
        /User time/ { user = $2 }
        /System time/ { sys = $2 }
        /Maximum resident set size/ { rss = $2 / 1024 }
        END { printf "%s %.2f %.2f %.1f\n", name, wall, user + sys, rss }
    ' "$out/$name.time" >>"$out/rows"
}

measure dw-ingest "$dw" --config "$cfg" ingest "$prod" --json
measure dw-golden "$dw" --config "$cfg" golden import "$golden" --set whole --no-embed
measure dw-run "$dw" --config "$cfg" run whole --json
measure dw-compare "$dw" --config "$cfg" compare "$golden" "$prod" --job whole --json
measure evidently python3 "$here/evidently_whole.py" "$prod" "$golden"

echo "production $(basename "$prod"): $rows lines; golden $(basename "$golden"): $(grep -c . "$golden") lines"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
awk '
    BEGIN { printf "%-34s %9s %9s %12s\n", "process", "wall s", "cpu s", "peak RSS MiB" }
    function row(label, w, c, r) { printf "%-34s %9.2f %9.2f %12.1f\n", label, w, c, r }
    $1 == "dw-ingest" { row("  driftwatch ingest", $2, $3, $4) }
    $1 == "dw-golden" { row("  driftwatch golden import", $2, $3, $4) }
    $1 == "dw-run"    { row("  driftwatch run", $2, $3, $4) }
    $1 ~ /^dw-(ingest|golden|run)$/ { w += $2; c += $3; if ($4 > r) r = $4 }
    $1 == "dw-compare" { cw = $2; cc = $3; cr = $4 }
    $1 == "evidently" { ew = $2; ec = $3; er = $4 }
    END {
        row("driftwatch (3 processes, sum)", w, c, r)
        row("driftwatch compare (1 process)", cw, cc, cr)
        row("evidently_whole.py (1 process)", ew, ec, er)
        if (w > 0 && c > 0 && r > 0)
            printf "evidently / driftwatch store path: wall %.1fx, cpu %.1fx, peak RSS %.2fx\n", ew / w, ec / c, er / r
        if (cw > 0 && cc > 0 && cr > 0)
            printf "evidently / driftwatch compare:    wall %.1fx, cpu %.1fx, peak RSS %.2fx\n", ew / cw, ec / cc, er / cr
    }
' "$out/rows"
echo "(driftwatch peak RSS is the largest of its three processes)"

dwd=$(jq -r '[.findings[] | select(.verdict == "drifted") | .metric] | unique | join(" ")' "$out/dw-run.json")
evd=$(jq -r '.drifted | join(" ")' "$out/evidently.json")
echo "driftwatch drifted ($(wc -w <<<"$dwd") of $(jq '.summary.tested' "$out/dw-run.json")): $dwd"
echo "evidently  drifted ($(wc -w <<<"$evd") of $(jq '.columns | length' "$out/evidently.json")): $evd"
echo "driftwatch per metric (test, effect size / floor, adjusted p, verdict):"
jq -r '.findings[] | select(.kind == "structural") | "  \(.metric) \(.test) \(.effect_size) / \(.threshold) p=\(.p_adjusted) \(.verdict)"' "$out/dw-run.json"
echo "evidently per column (method, score / threshold, drifted):"
jq -r '.columns | to_entries[] | "  \(.key) \(.value.method) \(.value.score) / \(.value.threshold) \(.value.drifted)"' "$out/evidently.json"
cmpd=$(jq -r '[.findings[] | select(.verdict == "drifted") | .metric] | unique | join(" ")' "$out/dw-compare.json")
if [ "$cmpd" = "$dwd" ]; then echo "driftwatch compare drifted: the same metrics as run"; else echo "driftwatch compare drifted: $cmpd (run: $dwd)"; fi
echo "driftwatch compare timings (ms): $(jq -c '.timings_ms' "$out/dw-compare.json")"
echo "driftwatch ingest: $(jq -c '{read, stored, duplicates, rejected}' "$out/dw-ingest.json")"
echo "driftwatch run timings (ms): $(jq -c '.summary.timings_ms' "$out/dw-run.json")"
echo "evidently: $(jq -c '{evidently, pandas, reference_rows, current_rows, import_s, load_s, descriptors_s, drift_s, total_s}' "$out/evidently.json")"
