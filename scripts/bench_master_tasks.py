#!/usr/bin/python3
"""Measures the SSD tier's master -> store channel: the time from sending a
put_end to a real mooncake_master (--enable_offload) until its persist task
arrives at a loopback HTTP listener standing in for the owner's control_url.
Bounded: N puts (default 300), one at a time, 5 ms apart; prints p50/p99/max.

  scripts/bench_master_tasks.py BIN_DIR [N]

BIN_DIR holds mooncake_master (build/release/bin); the master runs on free
ports and is stopped at the end. The time includes the put_end round trip.
"""
import http.server
import json
import queue
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    bin_dir, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 300
    got = queue.Queue()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            t = time.monotonic()
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            got.put((t, body))
            self.send_response(202)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port, mport = free_port(), free_port()
    proc = subprocess.Popen([f"{bin_dir}/mooncake_master", f"--rpc_port={port}",
                             f"--metrics_port={mport}", "--enable_offload", "--log_level=warn"])
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url + "/health")
                break
            except OSError:
                time.sleep(0.05)

        def post(op, body):
            req = urllib.request.Request(f"{url}/api/v1/{op}", data=json.dumps(body).encode(),
                                         method="POST")
            return json.loads(urllib.request.urlopen(req).read())

        c = str(uuid.uuid4())
        post("mount_segment", {"client_id": c, "segment": {
            "id": str(uuid.uuid4()), "name": "h:1", "endpoint": "h:1", "protocol": "tcp",
            "base": 1 << 40, "size": 1 << 30}})
        post("mount_disk", {"client_id": c, "name": "h:1", "capacity": 1 << 30, "used": 0,
                            "control_url": f"http://127.0.0.1:{srv.server_address[1]}"})
        lat = []
        for i in range(n):
            key = f"key-{i}"
            post("ping", {"client_id": c})
            post("put_start", {"client_id": c, "keys": [key], "sizes": [4096]})
            t0 = time.monotonic()
            post("put_end", {"client_id": c, "keys": [key]})
            t, body = got.get(timeout=5)
            assert body["persist"][0]["key"] == key, body
            lat.append((t - t0) * 1000)
            time.sleep(0.005)
        lat.sort()
        print(f"put_end sent -> persist task received: n={n} p50={lat[n // 2]:.2f} ms "
              f"p99={lat[min(n - 1, int(n * 0.99))]:.2f} ms max={lat[-1]:.2f} ms")
    finally:
        proc.terminate()
        proc.wait()
        srv.shutdown()


if __name__ == "__main__":
    main()
