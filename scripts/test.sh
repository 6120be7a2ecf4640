#!/usr/bin/env bash
# The README's test command: provisions what the tests need, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-postgres.sh
if [ -x scripts/fetch-model.sh ]; then
  scripts/fetch-model.sh
fi
cargo test --locked --all-targets "$@"
