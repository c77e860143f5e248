#!/usr/bin/env bash
# libmooncake_client throughput and latency (mc_client_bench) against two
# store services on loopback, next to single-thread memcpy and single-stream
# loopback TCP measured by the same program, and Redis SET/GET of the same
# value sizes (redis-benchmark, pipeline 16) in the same run.
#   scripts/bench_client.sh [BUILD_DIR] [--seconds=N]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build/release}
[ $# -gt 0 ] && shift
BIN=$BUILD/bin
MC_SETUP_EXTRA="redis-server" scripts/setup.sh
[ "$BUILD" = build/release ] && make -s build >/dev/null
[ -x "$BIN/mc_client_bench" ] || { echo "build first: $BIN/mc_client_bench" >&2; exit 1; }
# shellcheck source=scripts/bench_cluster.sh
. scripts/bench_cluster.sh
bench_cluster_start "$BIN" 512MB
echo "== libmooncake_client ($(nproc) cpus, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)) =="
"$BIN/mc_client_bench" --a="${SOCK[a]}" --b="${SOCK[b]}" --seg_a="${SEG[a]}" --seg_b="${SEG[b]}" "$@"

echo
echo "== peer: redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') (SET/GET, 1 client, pipeline 16) =="
rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
  --proto-max-bulk-len 64mb --daemonize no >"$dir/redis.log" 2>&1 & pids+=($!)
for _ in $(seq 1 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.05; done
for size in 1048576 4194304; do
  n=$(( (1 << 30) / size ))
  redis-benchmark -p "$rport" -t set,get -n "$n" -c 1 -P 16 -r 64 -d "$size" -q 2>/dev/null | tr '\r' '\n' |
    grep -E '^(SET|GET): [0-9]' | while read -r cmd ops _; do
      /usr/bin/python3 -c "import sys; c,s,r=sys.argv[1],int(sys.argv[2]),float(sys.argv[3]); print(f'redis  {c[:-1]:<4} {s/1048576:5.0f} MiB  {r*s/1e9:6.2f} GB/s')" "$cmd" "$size" "$(echo "$ops" | tr -dc '0-9.')"
    done
done
