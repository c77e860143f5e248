#!/usr/bin/env python3
"""One benchmark cell of mooncake.store from Python, printed as one JSON line
(the format of tests/bench/cell.h), for bench/run.py; the same cells as
`mc_client_bench --cell=OP`, so the table puts the two side by side:

  cells.py --a=SOCK --seg_a=H:P --seg_b=H:P --cell=OP --size=BYTES [--batch=1]
           [--where=local|remote] [--seconds=1] [--runs=3]

OP: get, put (bytes, through the staging area), get_into, put_from (memory
from alloc_from_mem_pool), batch_get_into, batch_put_from,
batch_get_into_multi, batch_put_from_multi (min(16, size / 64 KiB) fragments
per key), get_buffer (+ release), batch_is_exist. The store is attached with
setup_dummy to the service of --a; "local" values live in --seg_a, "remote"
ones in --seg_b. Reads cycle over min(64, 64 MiB / (size x batch)) sets of
keys written before the cell; puts write fresh keys, removed between calls
outside the timing. A rate is bytes (keys for batch_is_exist) per second of
one run; the median of the runs is printed with min, max and the p50/p99 of
one call over every run."""
import ctypes
import json
import os
import sys
import time

from mooncake.store import MooncakeDistributedStore, ReplicateConfig

MiB = 1 << 20
PUT_OPS = ("put", "put_from", "batch_put_from", "batch_put_from_multi")


def args():
    a = {"batch": "1", "where": "local", "seconds": "1", "runs": "3"}
    for x in sys.argv[1:]:
        if not x.startswith("--") or "=" not in x:
            raise SystemExit(__doc__)
        k, v = x[2:].split("=", 1)
        a[k] = v
    for k in ("a", "seg_a", "seg_b", "cell", "size"):
        if k not in a:
            raise SystemExit(__doc__)
    return a


def frags_of(size):
    return max(1, min(16, size // (64 * 1024)))


def main():
    a = args()
    op, size, batch = a["cell"], int(a["size"]), int(a["batch"])
    if op in ("get", "put", "get_into", "put_from", "get_buffer"):
        batch = 1
    fields = {"client": "python", "op": op, "size": size, "batch": batch, "where": a["where"],
              "threads": 1}
    seconds, runs = float(a["seconds"]), int(a["runs"])
    cfg = ReplicateConfig()
    cfg.replica_num = 1
    cfg.preferred_segment = a["seg_b"] if a["where"] == "remote" else a["seg_a"]
    nsets = max(1, min(64, 64 * MiB // (size * batch)))
    store = MooncakeDistributedStore()
    rc = store.setup_dummy(size * batch + 16 * MiB, 64 * MiB, a["a"])
    if rc != 0:
        print(json.dumps(dict(fields, error=f"setup_dummy {rc}")), flush=True)
        return 1
    try:
        return run(store, op, size, batch, nsets, cfg, fields, seconds, runs)
    finally:
        store.close()


def run(store, op, size, batch, nsets, cfg, fields, seconds, runs):
    base = store.alloc_from_mem_pool(size * batch)
    ctypes.memset(base, 0x5a, size * batch)
    ptrs = [base + j * size for j in range(batch)]
    sizes = [size] * batch
    nf = frags_of(size) if op.endswith("_multi") else 1
    fs = size // nf
    fptrs = [[p + f * fs for f in range(nf)] for p in ptrs]
    fsizes = [[fs] * (nf - 1) + [size - fs * (nf - 1)] for _ in ptrs]
    plain = os.urandom(size)
    prefix = f"py{os.getpid()}-{op}-{size}-{batch}"
    rkeys = [[f"{prefix}-r-{s}-{j}" for j in range(batch)] for s in range(nsets)]
    if op not in PUT_OPS:
        for ks in rkeys:
            if store.batch_put_from(ks, ptrs, sizes, cfg) != [0] * batch:
                print(json.dumps(dict(fields, error="writing the read set failed")), flush=True)
                return 1
    pending, seq = [], [0]

    def fresh():
        ks = [f"{prefix}-w-{seq[0] + j}" for j in range(batch)]
        seq[0] += batch
        pending.extend(ks)
        return ks

    def flush():
        if pending:
            store.batch_remove(pending, force=True)
            pending.clear()

    def call(i):
        ks = rkeys[i % nsets]
        if op == "get":
            return len(store.get(ks[0])) == size
        if op == "get_into":
            return store.get_into(ks[0], ptrs[0], size) == size
        if op == "get_buffer":
            with store.get_buffer(ks[0]) as h:
                return h.size() == size
        if op == "batch_get_into":
            return store.batch_get_into(ks, ptrs, sizes) == sizes
        if op == "batch_get_into_multi":
            return store.batch_get_into_multi_buffers(ks, fptrs, fsizes) == sizes
        if op == "batch_is_exist":
            return store.batch_is_exist(ks) == [1] * batch
        if op == "put":
            return store.put(fresh()[0], plain, cfg) == 0
        if op == "put_from":
            return store.put_from(fresh()[0], ptrs[0], size, cfg) == 0
        if op == "batch_put_from":
            return store.batch_put_from(fresh(), ptrs, sizes, cfg) == [0] * batch
        if op == "batch_put_from_multi":
            return store.batch_put_from_multi_buffers(fresh(), fptrs, fsizes, cfg) == [0] * batch
        raise SystemExit(f"unknown cell {op}")

    units = batch if op == "batch_is_exist" else size * batch
    rates, lat, calls = [], [], 0
    for _ in range(runs):
        n, untimed = 0, 0.0
        t0 = t = time.perf_counter()
        end = t0 + seconds
        while t < end:
            s = t
            if not call(calls + n):
                print(json.dumps(dict(fields, error="a call failed")), flush=True)
                flush()
                return 1
            t = time.perf_counter()
            lat.append(t - s)
            n += 1
            if op in PUT_OPS and (len(pending) + batch > 4096 or
                                  (len(pending) + batch) * size > 128 * MiB):
                flush()
                f = time.perf_counter()
                untimed += f - t
                t = f
        calls += n
        rates.append(n * units / (t - t0 - untimed))
    flush()
    if op not in PUT_OPS:
        for ks in rkeys:
            store.batch_remove(ks, force=True)
    store.free_to_mem_pool(base)
    rates.sort()
    lat.sort()
    print(json.dumps(dict(fields, unit="keys/s" if op == "batch_is_exist" else "B/s",
                          median=rates[len(rates) // 2], min=rates[0], max=rates[-1],
                          runs=rates, p50_us=lat[len(lat) // 2] * 1e6,
                          p99_us=lat[len(lat) * 99 // 100] * 1e6, calls=calls)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
