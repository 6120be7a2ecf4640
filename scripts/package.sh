#!/usr/bin/env bash
# Builds the release tarball and the Debian package of driftwatch.
#
#   scripts/package.sh [--binary PATH] [--out DIR] [--fast]
#
# --fast compresses lightly (gzip -1 for both): the package test wraps an
# unoptimised 160 MB test binary, which xz takes a minute to squeeze.
#
# Without --binary it builds the release binary first (cargo build --release).
# Writes to DIR (default target/package):
#   driftwatch-VERSION-ARCH-linux.tar.gz   a root-relative tree for `tar -C / -xzf`:
#                                          usr/local/bin/driftwatch, units in etc/systemd/system,
#                                          etc/driftwatch/driftwatch.toml.example (never
#                                          overwrites a config), docs in usr/local/share/doc
#   driftwatch_VERSION_DEBARCH.deb         /usr/bin/driftwatch, units in /lib/systemd/system
#                                          (ExecStart=/usr/bin/driftwatch), /etc/driftwatch/ as
#                                          conffiles, docs in /usr/share/doc/driftwatch
# Neither ships the embedding model (≈ 90 MB with ONNX Runtime): both ship
# fetch-model.sh, which installs it where the binary looks
# (fetch-model.sh --dest /var/lib/driftwatch/models).
#
# The .deb is assembled with dpkg-deb (Debian's own tool) from a staging tree
# rather than with cargo-deb, which would have to be compiled on every CI
# machine; the layout is the few lines below.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=""
OUT="target/package"
FAST=0
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) BIN="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --fast) FAST=1; shift ;;
    *) echo "package.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$BIN" ]; then
  cargo build --release --locked
  BIN="${CARGO_TARGET_DIR:-target}/release/driftwatch"
fi
[ -x "$BIN" ] || { echo "package.sh: $BIN is not an executable" >&2; exit 1; }

VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
ARCH=$(uname -m)
DEBARCH=$(dpkg --print-architecture 2>/dev/null || echo amd64)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# What both layouts hold: staging root, prefix, binary dir, unit dir, config file name.
stage() {
  local root="$1" prefix="$2" bindir="$3" unitdir="$4" config="$5"
  install -D -m 0755 "$BIN" "$root$bindir/driftwatch"
  install -d "$root$unitdir"
  for u in systemd/driftwatch.service systemd/driftwatch-run@.service systemd/driftwatch-run@.timer; do
    sed -e "s#/usr/local/bin/driftwatch#$bindir/driftwatch#g" \
        -e "s#/usr/local/share/driftwatch#$prefix/share/driftwatch#g" \
        "$u" > "$root$unitdir/$(basename "$u")"
    chmod 0644 "$root$unitdir/$(basename "$u")"
  done
  install -D -m 0644 config/driftwatch.example.toml "$root/etc/driftwatch/$config"
  install -D -m 0600 systemd/driftwatch.env.example "$root/etc/driftwatch/driftwatch.env.example"
  local doc="$root$prefix/share/doc/driftwatch"
  install -d "$doc"
  install -m 0644 README.md ARCHITECTURE.md BENCHMARKS.md RELIABILITY.md "$doc/"
  printf 'driftwatch %s\nLicense: Apache-2.0\nThe vendored query subsets under data/ and tests/data/ keep their own licenses (CC BY 3.0 / 4.0), see their README files.\n' "$VERSION" > "$doc/copyright"
  local share="$root$prefix/share/driftwatch"
  install -d "$share/grafana"
  cp -r config/grafana/. "$share/grafana/"
  install -m 0755 scripts/fetch-model.sh "$share/fetch-model.sh"
}

# The tarball: unpack at / (`tar -C / -xzf`), then `systemctl daemon-reload`.
TROOT="$WORK/tar"
stage "$TROOT" "/usr/local" "/usr/local/bin" "/etc/systemd/system" "driftwatch.toml.example"
TARBALL="$OUT/driftwatch-$VERSION-$ARCH-linux.tar.gz"
if [ "$FAST" = 1 ]; then GZIP_PROG="gzip -1"; DEB_COMPRESS=(-Zgzip -z1); else GZIP_PROG="gzip"; DEB_COMPRESS=(); fi
tar -C "$TROOT" --owner=0 --group=0 -I "$GZIP_PROG" -cf "$TARBALL" usr etc

# The Debian package.
DROOT="$WORK/deb"
stage "$DROOT" "/usr" "/usr/bin" "/lib/systemd/system" "driftwatch.toml"
install -d "$DROOT/DEBIAN"
SIZE=$(du -sk "$DROOT" | cut -f1)
cat > "$DROOT/DEBIAN/control" <<EOF
Package: driftwatch
Version: $VERSION
Architecture: $DEBARCH
Maintainer: driftwatch maintainers <driftwatch@localhost>
Installed-Size: $SIZE
Depends: libc6, libgcc-s1
Recommends: python3-pip
Section: admin
Priority: optional
Description: drift and golden-set coverage monitor for LLM applications
 Samples an LLM application's logged production I/O, measures structural and
 semantic skew against a curated golden dataset, alerts ops, and proposes
 uncovered production examples for the data team's review. One binary and a
 systemd daemon; SQLite by default, PostgreSQL for production.
 .
 The embedding model is not in the package: run
 /usr/share/driftwatch/fetch-model.sh --dest /var/lib/driftwatch/models
EOF
printf '/etc/driftwatch/driftwatch.toml\n/etc/driftwatch/driftwatch.env.example\n' > "$DROOT/DEBIAN/conffiles"
DEB="$OUT/driftwatch_${VERSION}_${DEBARCH}.deb"
dpkg-deb --root-owner-group "${DEB_COMPRESS[@]}" --build "$DROOT" "$DEB" >/dev/null
echo "package: $TARBALL"
echo "package: $DEB"
