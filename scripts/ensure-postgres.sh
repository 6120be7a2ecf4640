#!/usr/bin/env bash
# Makes sure the local PostgreSQL the tests use is up (127.0.0.1:5432, trust auth).
# Starts the machine's cluster if it is down; never installs or reconfigures anything.
set -euo pipefail
url_host=127.0.0.1
if pg_isready -q -h "$url_host" -p 5432 2>/dev/null; then
  exit 0
fi
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  echo "starting PostgreSQL $version cluster 'main'" >&2
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
fi
for _ in $(seq 1 30); do
  pg_isready -q -h "$url_host" -p 5432 2>/dev/null && exit 0
  sleep 1
done
echo "error: PostgreSQL is not reachable on $url_host:5432 and could not be started" >&2
echo "hint: set DRIFTWATCH_TEST_PG_URL to a server where the test user may CREATE DATABASE" >&2
exit 1
