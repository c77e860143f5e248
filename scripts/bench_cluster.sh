# Sourced by scripts/bench_*.sh: a metadata server, a master and two store
# services (a, b) on free loopback ports, stopped at exit.
#   bench_cluster_start BIN SEGMENT_SIZE [extra store flags...]
# sets $dir (a temporary run directory), REST[a|b] (REST URLs), SEG[a|b]
# (segment names), SOCK[a|b] (IPC sockets), and returns once both segments
# are paged in (the background page-in would compete for the CPU).
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 200); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.05; done; echo "not up: $1" >&2; exit 1; }
pids=()
bench_cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
declare -A REST SEG SOCK

bench_cluster_start() {
  local bin=$1 seg=$2 mport aport mmport r d s
  shift 2
  dir=$(mktemp -d /tmp/mc-bench-XXXXXX)
  trap bench_cleanup EXIT
  mport=$(free_port); aport=$(free_port); mmport=$(free_port)
  "$bin/mooncake_http_metadata_server" --port="$mport" >"$dir/meta.log" 2>&1 & pids+=($!)
  "$bin/mooncake_master" --rpc_port="$aport" --metrics_port="$mmport" >"$dir/master.log" 2>&1 & pids+=($!)
  wait_http "http://127.0.0.1:$mport/health"; wait_http "http://127.0.0.1:$aport/health"
  for s in a b; do
    r=$(free_port); d=$(free_port)
    "$bin/mooncake_store_service" --rest_port="$r" --local_hostname="127.0.0.1:$d" \
      --global_segment_size="$seg" --master_server_addr="127.0.0.1:$aport" \
      --metadata_server="http://127.0.0.1:$mport/metadata" --ipc_socket="$dir/$s.sock" \
      --log_level=warn "$@" >"$dir/store-$s.log" 2>&1 &
    pids+=($!)
    REST[$s]="http://127.0.0.1:$r"; SEG[$s]="127.0.0.1:$d"; SOCK[$s]="$dir/$s.sock"
    wait_http "${REST[$s]}/health"
  done
  for s in a b; do
    for _ in $(seq 1 300); do
      curl -s "${REST[$s]}/metrics" | awk '/^mc_store_segment_(capacity|populated)_bytes /{v[$1]=$2}
        END{exit !(v["mc_store_segment_capacity_bytes"] == v["mc_store_segment_populated_bytes"])}' && break
      sleep 0.1
    done
  done
}
