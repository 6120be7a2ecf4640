#!/usr/bin/env bash
# Installs Debian's `fortunes` and `fortunes-min` (≈ 14,000 quotations, jokes
# and definitions in files by theme, under /usr/share/games/fortunes): the
# quality benchmark's third real-text data set, long hand-written English that
# no detection setting was tuned on. Not needed by the tests or the demo.
# Idempotent: does nothing when the files are already there.
set -euo pipefail
if [ -f /usr/share/games/fortunes/computers ] && [ -f /usr/share/games/fortunes/science ]; then
  exit 0
fi
"$(dirname "$0")/apt-install.sh" fortunes fortunes-min
ls /usr/share/games/fortunes/computers >/dev/null
