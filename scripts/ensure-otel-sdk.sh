#!/usr/bin/env bash
# Installs the OpenTelemetry Python SDK and its OTLP/HTTP exporter for the OTLP
# ingest test, which exports spans to `POST /v1/otlp/traces` with the SDK's own
# exporter (tests/otlp/export.py), as an instrumented application would.
# Idempotent: does nothing when the exporter already imports.
set -euo pipefail
PYTHON="${PYTHON:-python3}"
if "$PYTHON" -c 'import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http' 2>/dev/null; then
  exit 0
fi
if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
  "$(dirname "$0")/apt-install.sh" python3-pip
fi
pkgs=(opentelemetry-sdk opentelemetry-exporter-otlp-proto-http)
"$PYTHON" -m pip install --quiet --disable-pip-version-check "${pkgs[@]}" 2>/dev/null ||
  "$PYTHON" -m pip install --quiet --disable-pip-version-check --break-system-packages "${pkgs[@]}"
"$PYTHON" -c 'import opentelemetry.exporter.otlp.proto.http; print("OpenTelemetry SDK and OTLP/HTTP exporter installed")'
