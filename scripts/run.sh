#!/usr/bin/env bash
# Starts the trio on 127.0.0.1 with default ports, waits until each answers
# /health, prints where they listen, and stays in the foreground. Ctrl-C (or
# SIGTERM) stops all three. Logs and state go under $RUN_DIR (default ./run).
# Ports: MASTER_PORT (50051), MASTER_METRICS_PORT (9003), METADATA_PORT (8080),
# STORE_REST_PORT (8081), STORE_DATA_PORT (12345). BIN_DIR picks the binaries.
set -uo pipefail
cd "$(dirname "$0")/.."

BIN_DIR=${BIN_DIR:-build/release/bin}
RUN_DIR=${RUN_DIR:-run}
MASTER_PORT=${MASTER_PORT:-50051}
MASTER_METRICS_PORT=${MASTER_METRICS_PORT:-9003}
METADATA_PORT=${METADATA_PORT:-8080}
STORE_REST_PORT=${STORE_REST_PORT:-8081}
STORE_DATA_PORT=${STORE_DATA_PORT:-12345}
SEGMENT_SIZE=${SEGMENT_SIZE:-512MB}
mkdir -p "$RUN_DIR"

pids=()
stop_all() {
  trap - INT TERM
  echo "stopping..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  rm -f "$RUN_DIR"/*.pid
  echo "stopped"
  exit 0
}
trap stop_all INT TERM

start() { # name health-url cmd...
  local name=$1 url=$2; shift 2
  # Each service in a session of its own: a Ctrl-C in the terminal signals
  # this script's process group only, and stop_all then stops the services
  # in order, so a clean stop never reads as a service dying under us.
  setsid "$@" >>"$RUN_DIR/$name.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  echo "$pid" >"$RUN_DIR/$name.pid"
  for _ in $(seq 1 200); do
    if curl -fs -o /dev/null "$url"; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$name failed to start; last lines of $RUN_DIR/$name.log:" >&2
      tail -n 5 "$RUN_DIR/$name.log" >&2
      stop_all
    fi
    sleep 0.05
  done
  echo "$name not healthy after 10 s (see $RUN_DIR/$name.log)" >&2
  stop_all
}

start metadata "http://127.0.0.1:$METADATA_PORT/health" \
  "$BIN_DIR/mooncake_http_metadata_server" --port="$METADATA_PORT"
start master "http://127.0.0.1:$MASTER_PORT/health" \
  "$BIN_DIR/mooncake_master" --rpc_port="$MASTER_PORT" --metrics_port="$MASTER_METRICS_PORT"
start store "http://127.0.0.1:$STORE_REST_PORT/health" \
  "$BIN_DIR/mooncake_store_service" --rest_port="$STORE_REST_PORT" \
  --local_hostname="127.0.0.1:$STORE_DATA_PORT" \
  --metadata_server="http://127.0.0.1:$METADATA_PORT/metadata" \
  --master_server_addr="127.0.0.1:$MASTER_PORT" --global_segment_size="$SEGMENT_SIZE"

cat <<MSG
mooncake is up (logs in $RUN_DIR/):
  master            http://127.0.0.1:$MASTER_PORT   (admin + /metrics on :$MASTER_METRICS_PORT)
  metadata server   http://127.0.0.1:$METADATA_PORT/metadata
  store service     http://127.0.0.1:$STORE_REST_PORT  (data plane 127.0.0.1:$STORE_DATA_PORT)
  local clients     libmooncake_client (build/release/lib): mooncake_client_connect(NULL, 0, &c)
  python            /usr/bin/python3 -m venv --system-site-packages ~/mc-venv &&
                    ~/mc-venv/bin/pip install --no-build-isolation --no-index ./clients/python
try: curl http://127.0.0.1:$STORE_REST_PORT/health
Ctrl-C stops all three.
MSG
# wait returns when a signal arrives (the trap then stops everything) or a child dies
while :; do
  for pid in "${pids[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "a service exited unexpectedly (pid $pid); see $RUN_DIR/*.log" >&2
      stop_all
    fi
  done
  sleep 1 &
  wait $! 2>/dev/null
done
