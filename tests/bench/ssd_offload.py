#!/usr/bin/python3
"""The SSD tier's write-behind latency and restart recovery, measured on the
real binaries (docs/ssd-tier.md, "Measured").

    /usr/bin/python3 tests/bench/ssd_offload.py BIN_DIR [--puts=200] [--size-kib=1024]
        [--reads=64] [--recovery=100000] [--restart-master=1] [--durability=data]
        [--dir=DIR]

Starts a metadata server, a master with --enable_offload and one store
service with an SSD tier in DIR (default: a temporary directory on the same
disk as /tmp), then:
  offload   --puts PUTs one at a time (light load); after each, polls the
            master's get_replica_list until the key has a disk replica: the
            time from the PUT's reply (put_end done) to the registered disk
            replica, p50/p90/p99; also the service's own histogram
            (mc_store_ssd_offload_seconds: task received -> registered);
  reads     --reads values of 1 MiB and of 4 MiB persisted, evicted from memory
            and read back from disk through their owner and through a
            second service, single and batch GETs (GB/s);
  recovery  --recovery small values (64 B) put through 8 threads, waited on
            until persisted, then the store service restarted (with
            --restart-master=1 the master too, before it, so every key is
            created again): the backend's scan and the re-registration with
            the master (create_missing, batches of 512), from the service's
            log lines.
Everything is bounded in time and stopped at the end."""
import concurrent.futures
import os
import re
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
os.environ.setdefault("MC_BIN_DIR", sys.argv[1] if len(sys.argv) > 1 else "build/dev/bin")

from conftest import Cluster, request  # noqa: E402


def arg(name, default):
    for a in sys.argv[2:]:
        if a.startswith(f"--{name}="):
            return type(default)(a.split("=", 1)[1])
    return default


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))] if v else float("nan")


def on_disk(master, key):
    r = request("POST", f"{master.url}/api/v1/get_replica_list", body={"keys": [key]})
    res = r.json()["results"][0]
    return any(str(x.get("type", "")).lower() == "disk" for x in res.get("replicas", []))


def hist(store, name):
    text = request("GET", f"{store.url}/metrics").text
    buckets = [(float(m.group(1)), float(m.group(2))) for m in re.finditer(
        rf'^{name}_bucket{{le="([^"]+)"}} (\S+)$', text.replace('+Inf', 'inf'), re.M)]
    count = buckets[-1][1] if buckets else 0
    p50 = next((le for le, c in buckets if c >= count / 2), float("nan"))
    p99 = next((le for le, c in buckets if c >= count * 0.99), float("nan"))
    return count, p50, p99


def offload(cl, m, s, puts, size):
    lat = []
    for i in range(puts):
        key, val = f"lat{i}", os.urandom(size)
        r = request("PUT", f"{s.url}/api/v1/objects/{key}", body=val, timeout=30)
        t0 = time.monotonic()
        assert r.status == 200, r.text
        deadline = t0 + 10
        while not on_disk(m, key) and time.monotonic() < deadline:
            time.sleep(0.0005)
        lat.append((time.monotonic() - t0) * 1000)
        time.sleep(0.01)  # light load: one object at a time
    print(f"offload {puts} x {size >> 10} KiB, put reply -> disk replica registered (ms): "
          f"p50 {pct(lat, .5):.2f}  p90 {pct(lat, .9):.2f}  p99 {pct(lat, .99):.2f}  "
          f"(includes one get_replica_list round trip of the poll)")
    n, p50, p99 = hist(s, "mc_store_ssd_offload_seconds")
    print(f"  service histogram (task received -> registered): {int(n)} samples, "
          f"p50 <= {p50 * 1000:g} ms, p99 <= {p99 * 1000:g} ms")


def reads(cl, m, meta, ssd, size, n, batch=16):
    """n values persisted and evicted from a 64 MB segment, then read back
    from disk: single GETs and batch GETs, through the owner (local disk
    read straight into the reply) and through a second service (the owner's
    GET /api/v1/ssd/read, then a copy)."""
    a = cl.store(m, meta, "--global_segment_size=64MB", f"--ssd_path={ssd}",
                 "--ssd_capacity=4GB", "--max_reply_memory=2GB")
    b = cl.store(m, meta, "--global_segment_size=0", "--max_reply_memory=2GB")
    keys = [f"rd{size}-{i}" for i in range(n)]
    for k in keys:
        assert request("PUT", f"{a.url}/api/v1/objects/{k}", body=os.urandom(size)).status == 200
    deadline = time.monotonic() + 60
    while not all(on_disk(m, k) for k in keys) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    for i in range(96):  # 1.5 segments of fillers: the values leave memory
        request("PUT", f"{a.url}/api/v1/objects/fill{size}-{i}", body=os.urandom(1 << 20))
    for who, s in (("owner", a), ("peer", b)):
        t0 = time.monotonic()
        for k in keys:
            r = request("GET", f"{s.url}/api/v1/objects/{k}", timeout=30)
            assert r.status == 200 and len(r.body) == size, (r.status, who)
        single = n * size / (time.monotonic() - t0) / 1e9
        t0 = time.monotonic()
        for i in range(0, n, batch):
            r = request("POST", f"{s.url}/api/v1/batch/get", body={"keys": keys[i:i + batch]},
                        timeout=60)
            assert r.status == 200
        batched = n * size / (time.monotonic() - t0) / 1e9
        print(f"disk reads {n} x {size >> 10} KiB through the {who}: single GET {single:.2f} GB/s,"
              f" batch GET of {batch} {batched:.2f} GB/s")
    # the same GETs of values in memory (the harness's own ceiling)
    mem = [f"mem{size}-{i}" for i in range(16)]
    for k in mem:
        request("PUT", f"{a.url}/api/v1/objects/{k}", body=os.urandom(size))
    t0 = time.monotonic()
    for k in mem:
        assert request("GET", f"{a.url}/api/v1/objects/{k}", timeout=30).status == 200
    print(f"  memory reads 16 x {size >> 10} KiB through the owner (same client): single GET "
          f"{16 * size / (time.monotonic() - t0) / 1e9:.2f} GB/s")
    a.stop()
    b.stop()


def recovery(cl, m, s, n):
    def one(i):
        key = f"r{i}"
        for _ in range(3):
            if request("PUT", f"{s.url}/api/v1/objects/{key}", body=os.urandom(64)).status == 200:
                return
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        list(ex.map(one, range(n)))
    print(f"recovery: {n} puts of 64 B in {time.monotonic() - t0:.1f} s")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        text = request("GET", f"{s.url}/metrics").text
        rec = re.search(r"^mc_store_ssd_records (\S+)$", text, re.M)
        if rec and float(rec.group(1)) >= n:
            break
        time.sleep(0.5)
    assert s.stop() == 0
    if arg("restart-master", 0):  # the master forgets everything: create_missing creates
        assert m.stop() == 0
        m2 = cl._start(m.name, m.args, m.health_url)
        m2.url = m.url
    t0 = time.monotonic()
    s2 = cl._start(s.name, s.args, s.health_url)
    s2.url = s.url
    deadline = time.monotonic() + 600
    tail = ""
    while time.monotonic() < deadline:
        with open(s2.log_path, "rb") as f:
            tail = f.read().decode("utf-8", "replace")
        if "re-registered" in tail:
            break
        time.sleep(0.2)
    scan = re.search(r"(\d+) records in (\d+) buckets recovered .* in (\d+) ms", tail)
    rereg = re.search(r"re-registered (\d+) records \((\d+) discarded\) in (\d+) ms", tail)
    print(f"  restart to re-registered: {time.monotonic() - t0:.1f} s wall")
    if scan:
        r, ms = int(scan.group(1)), int(scan.group(3))
        print(f"  scan: {r} records in {scan.group(2)} buckets in {ms} ms "
              f"({r / max(ms, 1) * 1000:,.0f} records/s)")
    if rereg:
        r, ms = int(rereg.group(1)), int(rereg.group(3))
        print(f"  re-registration: {r} records in {ms} ms ({r / max(ms, 1) * 1000:,.0f} records/s"
              f", {ms / max(r, 1) * 100000 / 1000:.2f} s per 100,000)")
    return s2


def main():
    puts, size = arg("puts", 200), arg("size-kib", 1024) << 10
    nreads = arg("reads", 64)
    nrec, dur = arg("recovery", 100000), arg("durability", "data")
    work = arg("dir", "") or tempfile.mkdtemp(prefix="mc-ssd-bench-")
    cl = Cluster(tempfile.mkdtemp(prefix="mc-ssd-bench-logs-"))
    try:
        meta = cl.metadata()
        m = cl.master("--enable_offload")
        ssd = os.path.join(work, "ssd")
        os.makedirs(ssd, exist_ok=True)
        s = cl.store(m, meta, "--global_segment_size=512MB", f"--ssd_path={ssd}",
                     "--ssd_capacity=4GB", f"--ssd_durability={dur}")
        if puts:
            offload(cl, m, s, puts, size)
        if nreads:
            for sz in (1 << 20, 4 << 20):
                d = os.path.join(work, f"ssd-reads-{sz}")
                os.makedirs(d, exist_ok=True)
                reads(cl, m, meta, d, sz, nreads)
        if nrec:
            recovery(cl, m, s, nrec)
    finally:
        cl.teardown()


if __name__ == "__main__":
    main()
