#!/usr/bin/env bash
# The SSD backend (services/store/ssd) against the raw disk under it:
# batch offload/load of 1 MiB and 4 MiB values at batch 8, 16, 32 for each
# durability level, next to raw sequential O_DIRECT write and read measured
# by the same program in the same run, then the recovery scan of 100,000
# small objects.
#   scripts/bench_ssd.sh [BUILD_DIR] [extra mc_ssd_bench args, e.g. --mib=128]
# BUILD_DIR defaults to build/release (only mc_ssd_bench is built there).
# The files live in BUILD_DIR/ssd-bench (at most ~1 GiB at once: a cell of
# --mib MiB, default 256, or the ~800 MiB recovery set) and are deleted;
# the run takes about 70 s (--reps=5: about 2 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build/release}
[ $# -gt 0 ] && shift
if [ "$BUILD" = build/release ]; then
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DMC_BUILD_TESTS=OFF >/dev/null
  cmake --build "$BUILD" -j2 --target mc_ssd_bench >/dev/null
fi
BENCH=$BUILD/bin/mc_ssd_bench
[ -x "$BENCH" ] || { echo "build first: $BENCH" >&2; exit 1; }
dir=$(realpath "$BUILD")/ssd-bench
rm -rf "$dir"
mkdir -p "$dir"
trap 'rm -rf "$dir"' EXIT
avail=$(df --output=avail -B1M "$dir" | tail -1)
[ "$avail" -gt 4096 ] || { echo "need 4 GiB free under $dir (have ${avail} MiB)" >&2; exit 1; }
echo "disk: $(df --output=source,fstype -h "$dir" | tail -1), $(nproc) cpus"
timeout 300 "$BENCH" --dir="$dir" "$@"
