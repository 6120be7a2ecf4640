#!/usr/bin/env bash
# Fuzzes the record reader, config loading and the OTLP body decoder with
# cargo-fuzz (libFuzzer).
#
#   scripts/fuzz.sh                       # every target, 10 million runs each
#   scripts/fuzz.sh ingest_records 200000 # one target, N runs
#
# Not part of CI (it builds the whole crate with coverage instrumentation and
# runs for minutes). The machine has one stable toolchain; cargo-fuzz needs
# nightly flags, so RUSTC_BOOTSTRAP=1 lets stable rustc accept them. No
# sanitizer: the code under test is safe Rust, so the checks are panics,
# overflow checks (-a: debug assertions) and the targets' own assertions.
# New corpus entries go to fuzz/corpus/ (ignored); the committed seeds are in
# fuzz/seeds/. A crash is written to fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
targets=("${1:-ingest_records}")
[ $# -eq 0 ] && targets=(ingest_records config_load otlp_decode)
runs="${2:-10000000}"
export RUSTC_BOOTSTRAP=1
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  echo "fuzz: $t, $runs runs (load: $(cut -d' ' -f1-3 /proc/loadavg))"
  start=$(date +%s)
  cargo fuzz run --sanitizer none -a "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -runs="$runs" -max_len=65536 -timeout=10 -print_final_stats=1 2>&1 \
    | grep -E "^(stat::|#[0-9]+ +(DONE|INITED))|panicked|ERROR|Test unit written" || true
  echo "fuzz: $t finished in $(( $(date +%s) - start )) s"
done
