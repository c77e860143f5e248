#!/usr/bin/env python3
"""mooncake.store from Python: put/get and batch_put_from/batch_get_into
GB/s at 1 MiB and 4 MiB, batch 16 and 128, and batch_is_exist latency of 128
keys. Starts its own metadata server and master from MC_BIN_DIR (default
build/release/bin) on free loopback ports; the store service is the embedded
one setup() starts. Usage: bench_store.py [seconds-per-cell]"""
import ctypes
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from mooncake.store import MooncakeDistributedStore

MiB = 1 << 20
BIN = os.environ.get("MC_BIN_DIR", "build/release/bin")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args, health):
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            urllib.request.urlopen(health, timeout=1)
            return p
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{args[0]} did not start")


def timed(fn, seconds):
    """Runs fn until seconds pass (at least 3 times); per-call latencies."""
    lat = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(lat) < 3:
        t0 = time.perf_counter()
        fn()
        lat.append(time.perf_counter() - t0)
    return lat


def main():
    secs = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="mc-bench-"))
    os.environ.setdefault("MOONCAKE_STORE_SERVICE_BIN",
                          os.path.abspath(os.path.join(BIN, "mooncake_store_service")))
    mp, rp, mm = free_port(), free_port(), free_port()
    procs = [start([os.path.join(BIN, "mooncake_http_metadata_server"), f"--port={mp}"],
                   f"http://127.0.0.1:{mp}/health"),
             start([os.path.join(BIN, "mooncake_master"), f"--rpc_port={rp}",
                    f"--metrics_port={mm}"], f"http://127.0.0.1:{rp}/health")]
    store = MooncakeDistributedStore()
    try:
        rc = store.setup("127.0.0.1", f"http://127.0.0.1:{mp}/metadata", 1024 * MiB, 64 * MiB,
                         "tcp", "", f"127.0.0.1:{rp}")
        assert rc == 0, rc
        rows = []
        for size in (MiB, 4 * MiB):
            data = os.urandom(size)
            store.put(f"v{size}", data)
            lat = timed(lambda: store.get(f"v{size}"), secs)
            rows.append((f"get (bytes) {size >> 20} MiB", size / statistics.median(lat) / 1e9,
                         statistics.median(lat) * 1e6))
            n = [0]

            def put_new():
                n[0] += 1
                store.put(f"p{size}-{n[0]}", data)
                store.remove(f"p{size}-{n[0]}", force=True)
            lat = timed(put_new, secs)
            rows.append((f"put+remove (bytes) {size >> 20} MiB",
                         size / statistics.median(lat) / 1e9, statistics.median(lat) * 1e6))
            for batch in (16, 128):
                if batch * size > 512 * MiB:
                    continue
                ptr = store.alloc_from_mem_pool(batch * size)
                ctypes.memset(ptr, 7, batch * size)
                keys = [f"b{size}-{batch}-{i}" for i in range(batch)]
                ptrs = [ptr + i * size for i in range(batch)]
                sizes = [size] * batch
                assert store.batch_put_from(keys, ptrs, sizes) == [0] * batch
                lat = timed(lambda: store.batch_get_into(keys, ptrs, sizes), secs)
                rows.append((f"batch_get_into {batch} x {size >> 20} MiB",
                             batch * size / statistics.median(lat) / 1e9,
                             statistics.median(lat) * 1e6))
                gen = [0]

                def put_batch():
                    gen[0] += 1
                    ks = [f"{k}-{gen[0]}" for k in keys]
                    store.batch_put_from(ks, ptrs, sizes)
                    store.batch_remove(ks, force=True)
                lat = timed(put_batch, secs)
                rows.append((f"batch_put_from+remove {batch} x {size >> 20} MiB",
                             batch * size / statistics.median(lat) / 1e9,
                             statistics.median(lat) * 1e6))
                store.batch_remove(keys, force=True)
                store.free_to_mem_pool(ptr)
        keys = [f"e{i}" for i in range(128)]
        for k in keys[:64]:
            store.put(k, b"x")
        lat = timed(lambda: store.batch_is_exist(keys), secs)
        lat.sort()
        rows.append(("batch_is_exist 128 keys (p50 / p99 us)", 0.0,
                     statistics.median(lat) * 1e6, lat[int(len(lat) * 0.99)] * 1e6))
        print("| op | GB/s | p50 us | p99 us |\n|---|---|---|---|")
        for r in rows:
            print(f"| {r[0]} | {r[1]:.2f} | {r[2]:.0f} | {r[3]:.0f} |" if len(r) > 3 else
                  f"| {r[0]} | {r[1]:.2f} | {r[2]:.0f} | |")
    finally:
        store.close()
        for p in procs:
            p.terminate()
            p.wait()


if __name__ == "__main__":
    main()
