#!/usr/bin/env bash
# The README's test command: provisions what the tests need, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 scripts/layers.py   # imports run one way (ARCHITECTURE.md, Layers)
scripts/ensure-postgres.sh
scripts/ensure-chromium.sh   # headless Chromium + chromedriver for the review page's browser test
scripts/ensure-prometheus.sh  # Prometheus for the Grafana dashboard test
scripts/ensure-otel-sdk.sh    # the OpenTelemetry Python SDK exporter for the OTLP ingest test
if [ -x scripts/fetch-model.sh ]; then
  scripts/fetch-model.sh
fi
cargo test --locked --all-targets "$@"
