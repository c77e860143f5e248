#!/usr/bin/env bash
# `make bench`: installs what is missing (scripts/setup.sh, redis-server and
# memcached among it) and builds the Release binaries (make build), puts the
# mooncake Python package into build/release/venv when it is missing or
# older than the library, and runs bench/run.py, which
# starts its own cluster and peers, runs every cell, stops what it started
# and writes bench/results/<date>.md and .json (docs/performance.md).
#   scripts/bench.sh            BENCH_QUICK=1 scripts/bench.sh   (< 2 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
make -s build >/dev/null
VENV=build/release/venv
LIB=build/release/lib/libmooncake_client.so.0
if [ -z "${MC_PYTHON:-}" ] && { [ ! -x "$VENV/bin/python" ] || [ "$LIB" -nt "$VENV/.bench-stamp" ] ||
     ! "$VENV/bin/python" -c 'import mooncake.store' 2>/dev/null; }; then
  echo "bench: installing the mooncake package into $VENV" >&2
  rm -rf "$VENV"
  if /usr/bin/python3 -m venv --system-site-packages "$VENV" &&
     MOONCAKE_CLIENT_LIB_DIR="$PWD/build/release/lib" MOONCAKE_BIN_DIR="$PWD/build/release/bin" \
       "$VENV/bin/pip" install -q --no-build-isolation --no-index ./clients/python >/dev/null; then
    touch "$VENV/.bench-stamp"
  else
    echo "bench: the Python package did not install; its rows will say n/a" >&2
  fi
  rm -rf clients/python/build clients/python/*.egg-info
fi
exec /usr/bin/python3 bench/run.py "$@"
