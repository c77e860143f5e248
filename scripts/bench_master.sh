#!/usr/bin/env bash
# Master metadata throughput over loopback HTTP, next to Redis as a peer.
#   scripts/bench_master.sh [extra mc_master_bench args, e.g. --seconds=5 --objects=1000000]
# Prints the mc_master_bench table (keys/s, p50/p99 per request, RSS per
# object) and redis-benchmark SET/GET with 128-deep pipelining (one batch of
# 128 keys per round trip, like the master's batch routes) on the same machine.
set -euo pipefail
cd "$(dirname "$0")/.."
MC_SETUP_EXTRA="redis-server" scripts/setup.sh
make -s build >/dev/null
echo "== mooncake_master (HTTP/JSON, batch routes) =="
build/release/bin/mc_master_bench --master=build/release/bin/mooncake_master "$@"

echo
echo "== peer: redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') (RESP, pipeline 128, 64-byte keys) =="
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
dir=$(mktemp -d)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
  --daemonize no >"$dir/redis.log" 2>&1 &
rpid=$!
trap 'kill $rpid 2>/dev/null; wait $rpid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
for p in 1 16 128; do
  printf 'pipeline %3s: ' "$p"
  redis-benchmark -p "$port" -t set,get -P "$p" -n $((p == 1 ? 100000 : 1000000)) -c 4 \
    -r 1000000 -d 64 -q 2>/dev/null | tr '\r' '\n' | grep -E 'requests per second' | tr '\n' ' '
  echo
done
