#!/usr/bin/env bash
# apt-get installs the given Debian packages quietly (with sudo when not root).
# Used by the ensure-*.sh scripts, which first check whether they are needed.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
