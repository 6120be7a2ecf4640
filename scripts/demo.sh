#!/usr/bin/env bash
# The README's demo command: builds driftwatch and runs the end-to-end demo on the
# embedded SQLite default (no services needed).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x scripts/fetch-model.sh ]; then
  scripts/fetch-model.sh
fi
cargo build --release --locked
exec "${CARGO_TARGET_DIR:-target}/release/driftwatch" demo "$@"
