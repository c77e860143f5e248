#!/usr/bin/env python3
"""mooncake.store from Python: put/get and batch_put_from/batch_get_into
GB/s at 1 MiB and 4 MiB, batch 16 and 128, and batch_is_exist latency of 128
keys. Starts its own metadata server and master from MC_BIN_DIR (default
build/release/bin) on free loopback ports; the store service is the embedded
one setup() starts, or, with --attach=SOCK, a running one (setup_dummy).
Every cell runs three times for seconds-per-cell; a rate is calls x bytes /
elapsed, the median of the three is printed with the p50 latency of the last,
as mc_client_bench measures (scripts/bench_python.sh runs both side by side).
Usage: bench_store.py [--attach=SOCK] [seconds-per-cell]"""
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


RUNS = 3


def timed(fn, seconds, units=1.0):
    """fn for seconds, RUNS times: (median rate in units/s, p50 s, p99 s of the last run)."""
    rates = []
    for _ in range(RUNS):
        lat = []
        t0 = time.perf_counter()
        end = t0 + seconds
        t = t0
        while t < end:
            s = time.perf_counter()
            fn()
            t = time.perf_counter()
            lat.append(t - s)
        rates.append(len(lat) * units / (t - t0))
        lat.sort()
    return statistics.median(rates), lat[len(lat) // 2], lat[int(len(lat) * 0.99)]


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--attach=")]
    attach = [a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--attach=")]
    secs = float(args[0]) if args else 1.0
    if attach:
        store = MooncakeDistributedStore()
        assert store.setup_dummy(1024 * MiB, 64 * MiB, attach[0]) == 0
        try:
            run(store, secs)
        finally:
            store.close()
        return
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
        run(store, secs)
    finally:
        store.close()
        for p in procs:
            p.terminate()
            p.wait()


def run(store, secs):
    rows = []
    for size in (MiB, 4 * MiB):
        data = os.urandom(size)
        store.put(f"v{size}", data)
        rate, p50, _ = timed(lambda: store.get(f"v{size}"), secs, size)
        rows.append((f"get (bytes) {size >> 20} MiB", rate / 1e9, p50 * 1e6))
        n = [0]

        def put_new():
            n[0] += 1
            store.put(f"p{size}-{n[0]}", data)
            store.remove(f"p{size}-{n[0]}", force=True)
        rate, p50, _ = timed(put_new, secs, size)
        rows.append((f"put+remove (bytes) {size >> 20} MiB", rate / 1e9, p50 * 1e6))
        store.remove(f"v{size}", force=True)
        for batch in (16, 128):
            if batch * size > 512 * MiB:
                continue
            ptr = store.alloc_from_mem_pool(batch * size)
            ctypes.memset(ptr, 7, batch * size)
            keys = [f"b{size}-{batch}-{i}" for i in range(batch)]
            ptrs = [ptr + i * size for i in range(batch)]
            sizes = [size] * batch
            assert store.batch_put_from(keys, ptrs, sizes) == [0] * batch
            rate, p50, _ = timed(lambda: store.batch_get_into(keys, ptrs, sizes), secs,
                                 batch * size)
            rows.append((f"batch_get_into {batch} x {size >> 20} MiB", rate / 1e9, p50 * 1e6))
            gen = [0]

            def put_batch():
                gen[0] += 1
                ks = [f"{k}-{gen[0]}" for k in keys]
                store.batch_put_from(ks, ptrs, sizes)
                store.batch_remove(ks, force=True)
            rate, p50, _ = timed(put_batch, secs, batch * size)
            rows.append((f"batch_put_from+remove {batch} x {size >> 20} MiB", rate / 1e9,
                         p50 * 1e6))
            store.batch_remove(keys, force=True)
            store.free_to_mem_pool(ptr)
    keys = [f"e{i}" for i in range(128)]
    for k in keys[:64]:
        store.put(k, b"x")
    _, p50, p99 = timed(lambda: store.batch_is_exist(keys), secs)
    rows.append(("batch_is_exist 128 keys", 0.0, p50 * 1e6, p99 * 1e6))
    store.batch_remove(keys[:64], force=True)
    print("| op | GB/s | p50 us | p99 us |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]:.2f} | {r[2]:.0f} | {r[3]:.0f} |" if len(r) > 3 else
              f"| {r[0]} | {r[1]:.2f} | {r[2]:.0f} | |")


if __name__ == "__main__":
    main()
