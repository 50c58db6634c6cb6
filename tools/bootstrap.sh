#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (as root) and builds sluice into build/.
# Idempotent: installs only missing packages, reconfigures only when needed, and a
# second run with nothing changed finishes in seconds.
#   tools/bootstrap.sh               build dependencies + RelWithDebInfo build in build/
#   tools/bootstrap.sh --bench-peers also the peers' dev packages for sluice-bench
#   tools/bootstrap.sh --fuzz        also clang, for the libFuzzer targets (tests/fuzz/)
#   tools/bootstrap.sh --coverage    also gcovr, for the branch-coverage report in CI
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(build-essential cmake pkg-config liburing-dev liblmdb-dev liblz4-dev libjemalloc-dev
      libcriterion-dev lmdb-utils libjansson-dev libcsv-dev tmux libfuse3-dev fuse3 jq python3
      librdkafka-dev)
for arg in "$@"; do
  case "$arg" in
    --bench-peers) pkgs+=(librocksdb-dev libleveldb-dev libsqlite3-dev) ;;
    --fuzz) pkgs+=(clang) ;;
    --coverage) pkgs+=(gcovr) ;;
    *) echo "bootstrap.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "bootstrap: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -f build/CMakeCache.txt ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo ${SLUICE_CMAKE_ARGS:-} >/dev/null
fi
cmake --build build -j "$(nproc)" >/dev/null
