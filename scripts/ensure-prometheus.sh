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
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  $SUDO systemctl stop prometheus || true
fi
/usr/bin/prometheus --version | head -1
