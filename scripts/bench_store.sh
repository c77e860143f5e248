#!/usr/bin/env bash
# Store service REST throughput (PUT/GET GB/s, 1 MiB and 4 MiB values,
# keep-alive connections), local and cross-service, next to Redis SET/GET of
# the same value sizes on the same machine in the same run.
#   scripts/bench_store.sh [BUILD_DIR] [extra mc_store_bench args, e.g. --seconds=5 --threads=8]
# BUILD_DIR defaults to build/release. Every phase is bounded by --seconds
# (default 3); the whole run takes well under a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build/release}
[ $# -gt 0 ] && shift
BIN=$BUILD/bin
MC_SETUP_EXTRA="redis-server" scripts/setup.sh
[ "$BUILD" = build/release ] && make -s build >/dev/null
[ -x "$BIN/mooncake_store_service" ] || { echo "build first: $BIN/mooncake_store_service" >&2; exit 1; }
BENCH=$BIN/mc_store_bench
SIZES=1048576,4194304
# shellcheck source=scripts/bench_cluster.sh
. scripts/bench_cluster.sh
bench_cluster_start "$BIN" 1GB --threads=8
echo "== mooncake_store_service REST (keep-alive, $(nproc) cpus) =="
"$BENCH" --url="${REST[a]}" --seg="${SEG[a]}" --sizes=$SIZES --label=local "$@"
"$BENCH" --url="${REST[a]}" --seg="${SEG[a]}" --data_seg="${SEG[b]}" --sizes=$SIZES --label=cross "$@"

echo
echo "== peer: redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') (SET/GET, 4 clients, no pipelining) =="
rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
  --proto-max-bulk-len 64mb --daemonize no >"$dir/redis.log" 2>&1 & pids+=($!)
for _ in $(seq 1 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.05; done
for size in ${SIZES//,/ }; do
  n=$(( (2 << 30) / size ))  # ~2 GiB moved per command: a few seconds at most
  redis-benchmark -p "$rport" -t set,get -n "$n" -c 4 -r 64 -d "$size" -q 2>/dev/null | tr '\r' '\n' |
    grep -E '^(SET|GET): [0-9]' | while read -r cmd ops _; do
      rps=${ops%%.*}; rps=${rps//[^0-9]/}
      /usr/bin/python3 -c "import sys; c,s,r=sys.argv[1],int(sys.argv[2]),float(sys.argv[3]); print(f'redis  {c[:-1]:<4} {s/1048576:8.2f} MiB  {r:8.1f} ops/s  {r*s/1e9:6.2f} GB/s')" "$cmd" "$size" "$(echo "$ops" | tr -dc '0-9.')"
    done
done
