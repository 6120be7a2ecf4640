#!/usr/bin/env bash
# The structural test stage, driftwatch vs Evidently, as whole processes on the
# same exported metric columns (driftwatch run JOB --export-metrics DIR):
#
#   benches/peer/tests_vs_evidently.sh DIR [path/to/driftwatch]
#
# Prints wall time, CPU time (user+sys) and peak RSS of each process (GNU
# /usr/bin/time -v), the drifted columns of each and whether they are the same.
# Needs jq and `python3 -m pip install evidently "pandas<3"`.
set -euo pipefail

dir=${1:?usage: $0 DIR [driftwatch binary]}
dw=${2:-./target/release/driftwatch}
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

measure() { # name, command...
    local name=$1
    shift
    /usr/bin/time -v "$@" >"$out/$name.json" 2>"$out/$name.time"
    awk -v name="$name" -F': ' '
        /Elapsed \(wall clock\)/ { n = split($2, p, ":"); wall = (n == 3) ? p[1]*3600 + p[2]*60 + p[3] : p[1]*60 + p[2] }
        /User time/ { user = $2 }
        /System time/ { sys = $2 }
        /Maximum resident set size/ { rss = $2 / 1024 }
        END { printf "%-11s wall %7.2f s  cpu %7.2f s  peak RSS %7.1f MiB\n", name, wall, user + sys, rss }
    ' "$out/$name.time"
}

measure driftwatch "$dw" bench tests --metrics "$dir" --json
measure evidently python3 "$here/evidently_drift.py" "$dir" --json

jq -r '.drifted | sort | join(" ")' "$out/driftwatch.json" >"$out/dw.txt"
jq -r '.drifted | sort | join(" ")' "$out/evidently.json" >"$out/ev.txt"
echo "driftwatch drifted ($(wc -w <"$out/dw.txt")): $(cat "$out/dw.txt")"
echo "evidently  drifted ($(wc -w <"$out/ev.txt")): $(cat "$out/ev.txt")"
if cmp -s "$out/dw.txt" "$out/ev.txt"; then
    echo "same drifted columns"
else
    echo "drifted columns differ"
fi
echo "driftwatch timings (ms): $(jq -c .timings_ms "$out/driftwatch.json")"
echo "evidently: load $(jq .load_s "$out/evidently.json") s, compute $(jq .compute_s "$out/evidently.json") s"
