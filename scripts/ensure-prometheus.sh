#!/usr/bin/env bash
# Installs Prometheus (Debian's `prometheus` package) for the dashboard test,
# which scrapes a running `driftwatch serve` and runs every Grafana panel's
# query through Prometheus' HTTP API. Idempotent: does nothing when
# /usr/bin/prometheus is already there. The test starts its own Prometheus on a
# free loopback port with a temporary data directory; the packaged service is
# not used (and stopped if apt started it).
set -euo pipefail
if [ -x /usr/bin/prometheus ]; then
  exit 0
fi
"$(dirname "$0")/apt-install.sh" prometheus
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  systemctl stop prometheus 2>/dev/null || sudo systemctl stop prometheus || true
fi
/usr/bin/prometheus --version | head -1
