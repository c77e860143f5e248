#!/usr/bin/python3
"""Cost of remove_by_regex bombs in a real mooncake_master (issue #16, item 6).

    /usr/bin/python3 tests/bench/regex_bomb.py build/dev/bin/mooncake_master [TIMEOUT_S]

Starts the master on a free loopback port, mounts one segment, puts 2 x KEYS keys,
then, while a loop puts fresh keys one at a time, sends the pattern
((a{150}){150}){150} once and then four times in parallel, and last a legal
pattern that costs about 1 ms of matching per key, once and four times in
parallel (the master has 4 HTTP workers by default). Prints, for each
phase, the master's CPU seconds (utime+stime), its peak RSS (VmHWM) and RSS
after, each reply's status and time, and the put loop's latency (p50, max).
Every request is bounded by TIMEOUT_S (default 60); the master is stopped at
the end."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

BOMB = "((a{150}){150}){150}"
# backtracks ~1 ms on each b-key under PCRE2, within its limits: a long
# remove_by_regex that must not stall other clients (glibc's matcher is fast here)
SLOW = "^(b|bb)+c"
KEYS = 2000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url, op, body, timeout):
    req = urllib.request.Request(f"{url}/api/v1/{op}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def proc_stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    mem = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, v = line.split(":", 1)
            if k in ("VmHWM", "VmRSS"):
                mem[k] = int(v.split()[0]) / 1024
    return cpu, mem["VmHWM"], mem["VmRSS"]


def put(url, client, keys, timeout):
    post(url, "put_start", {"client_id": client, "keys": keys, "sizes": [4096] * len(keys)},
         timeout)
    post(url, "put_end", {"client_id": client, "keys": keys}, timeout)


def main():
    binary = sys.argv[1]
    timeout = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    port, mport = free_port(), free_port()
    p = subprocess.Popen([binary, f"--rpc_port={port}", f"--metrics_port={mport}"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(500):
            try:
                urllib.request.urlopen(url + "/health", timeout=1)
                break
            except OSError:
                time.sleep(0.02)
        client = str(uuid.uuid4())
        post(url, "mount_segment", {"client_id": client, "segment": {
            "id": str(uuid.uuid4()), "name": "seg", "endpoint": "seg", "protocol": "tcp",
            "base": 1 << 40, "size": 1 << 30}}, timeout)
        put(url, client, [f"aaaa/{i}" for i in range(KEYS)], timeout)
        put(url, client, ["b" * 20 + f"/c/{i}" for i in range(KEYS)], timeout)

        lat, stop = [], threading.Event()

        def loop():
            i = 0
            while not stop.is_set():
                t0 = time.monotonic()
                put(url, client, [f"loop/{i}"], timeout)
                lat.append((t0, time.monotonic() - t0))
                i += 1

        def phase(name, n, pattern=BOMB):
            cpu0, hwm0, _ = proc_stat(p.pid)
            replies = [None] * n

            def one(i):
                t0 = time.monotonic()
                try:
                    st, body = post(url, "remove_by_regex", {"pattern": pattern}, timeout)
                except Exception as e:  # noqa: BLE001
                    st, body = None, repr(e)
                replies[i] = (st, body, round(time.monotonic() - t0, 3))

            th = [threading.Thread(target=one, args=(i,)) for i in range(n)]
            t0 = time.monotonic()
            for t in th:
                t.start()
            for t in th:
                t.join()
            t1 = time.monotonic()
            wall = t1 - t0
            cpu1, hwm1, rss1 = proc_stat(p.pid)
            # the puts that overlapped the phase, including the one in flight at its end
            while not any(start > t1 for start, _ in lat):
                time.sleep(0.01)
            s = sorted(d for start, d in lat if start < t1 and start + d > t0) or [0.0]
            print(json.dumps({"phase": name, "wall_s": round(wall, 3),
                              "master_cpu_s": round(cpu1 - cpu0, 2),
                              "master_VmHWM_MiB": {"before": round(hwm0), "after": round(hwm1)},
                              "master_VmRSS_after_MiB": round(rss1),
                              "put_loop": {"n": len(s), "p50_ms": round(s[len(s) // 2] * 1e3, 2),
                                           "max_ms": round(s[-1] * 1e3, 2)},
                              "replies": replies}))

        th = threading.Thread(target=loop, daemon=True)
        th.start()
        time.sleep(0.5)  # the loop's baseline
        phase("one bomb", 1)
        phase("four bombs in parallel", 4)
        phase("legal but slow pattern, ~1 ms per key", 1, SLOW)
        phase("four legal slow patterns in parallel", 4, SLOW)
        stop.set()
        th.join(timeout)
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


if __name__ == "__main__":
    main()
