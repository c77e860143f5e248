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
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
dir=$(mktemp -d /tmp/mc-bench-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
wait_http() { for _ in $(seq 1 200); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.05; done; echo "not up: $1" >&2; exit 1; }

mport=$(free_port); aport=$(free_port); mmport=$(free_port)
"$BIN/mooncake_http_metadata_server" --port="$mport" >"$dir/meta.log" 2>&1 & pids+=($!)
"$BIN/mooncake_master" --rpc_port="$aport" --metrics_port="$mmport" >"$dir/master.log" 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$mport/health"; wait_http "http://127.0.0.1:$aport/health"
declare -A REST SEG
for s in a b; do
  r=$(free_port); d=$(free_port)
  "$BIN/mooncake_store_service" --rest_port="$r" --local_hostname="127.0.0.1:$d" \
    --global_segment_size=512MB --master_server_addr="127.0.0.1:$aport" \
    --metadata_server="http://127.0.0.1:$mport/metadata" --ipc_socket="$dir/$s.sock" \
    --log_level=warn >"$dir/store-$s.log" 2>&1 &
  pids+=($!)
  REST[$s]="http://127.0.0.1:$r"; SEG[$s]="127.0.0.1:$d"
  wait_http "${REST[$s]}/health"
done
for s in a b; do  # the background page-in would compete for the CPU
  for _ in $(seq 1 300); do
    curl -s "${REST[$s]}/metrics" | awk '/^mc_store_segment_(capacity|populated)_bytes /{v[$1]=$2}
      END{exit !(v["mc_store_segment_capacity_bytes"] == v["mc_store_segment_populated_bytes"])}' && break
    sleep 0.1
  done
done
echo "== libmooncake_client ($(nproc) cpus, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)) =="
"$BIN/mc_client_bench" --a="$dir/a.sock" --b="$dir/b.sock" --seg_a="${SEG[a]}" --seg_b="${SEG[b]}" "$@"

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
