#!/usr/bin/python3
"""Reply amplification in a real mooncake_store_service (issue #16, item 7).

    /usr/bin/python3 tests/bench/amplify.py BIN_DIR [--value-mib=8] [--repeats=96]
        [--slow=40] [--slow-mib=16] [STORE_FLAG ...]

Starts a metadata server, a master and one store service (64 MB segment, not
paged in ahead, plus STORE_FLAGs such as --max_reply_memory=1GB) on free
loopback ports, then, each on a fresh store service:
  repeated  one batch GET naming a --value-mib key --repeats times;
  slow      --slow connections GET a --slow-mib value and never read, then one
            more GET of it from a reading client.
Prints the request and reply sizes, the codes, and the store's VmHWM (peak
RSS) and VmRSS growth for each. Everything is bounded in time and stopped at
the end."""
import json
import os
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
os.environ.setdefault("MC_BIN_DIR", sys.argv[1] if len(sys.argv) > 1 else "build/dev/bin")

from conftest import Cluster, request  # noqa: E402

MiB = 1 << 20


def kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def mem(pid):
    return kib(pid, "VmHWM") / 1024.0, kib(pid, "VmRSS") / 1024.0


def put(store, key, value):
    r = request("PUT", f"{store.url}/api/v1/objects/{key}", body=value, timeout=60)
    assert r.status == 200, r.text


def repeated(store, pid, size, repeats):
    put(store, "rep", b"\x5a" * size)
    request("GET", f"{store.url}/api/v1/objects/rep", timeout=60)
    hwm0, rss0 = mem(pid)
    body = json.dumps({"keys": ["rep"] * repeats}).encode()
    t0 = time.monotonic()
    r = request("POST", f"{store.url}/api/v1/batch/get", body=body, timeout=120)
    took = time.monotonic() - t0
    hwm1, rss1 = mem(pid)
    codes = {}
    if r.status == 200:
        hlen = int(r.headers["X-Header-Length"])
        for res in json.loads(r.body[:hlen])["results"]:
            codes[res["code"]] = codes.get(res["code"], 0) + 1
    print(f"repeated: {len(body)} B request, {repeats} x {size // MiB} MiB -> HTTP {r.status}, "
          f"{len(r.body) / MiB:.1f} MiB reply in {took:.2f} s, codes {codes}; "
          f"VmHWM +{hwm1 - hwm0:.1f} MiB, VmRSS +{rss1 - rss0:.1f} MiB")


def slow(store, pid, size, n):
    put(store, "slow", b"\xa5" * size)
    request("GET", f"{store.url}/api/v1/objects/slow", timeout=60)
    hwm0, rss0 = mem(pid)
    conns = []
    try:
        for _ in range(n):
            c = socket.socket()
            c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            c.settimeout(10)
            c.connect(("127.0.0.1", store.port))
            c.sendall(b"GET /api/v1/objects/slow HTTP/1.1\r\nHost: x\r\n\r\n")
            conns.append(c)
        time.sleep(1.0)  # a measurement, not a test: let the service take them all
        hwm1, rss1 = mem(pid)
        t0 = time.monotonic()
        r = request("GET", f"{store.url}/api/v1/objects/slow", timeout=30)
        took = time.monotonic() - t0
        print(f"slow: {n} x {size // MiB} MiB unread: VmHWM +{hwm1 - hwm0:.1f} MiB, "
              f"VmRSS +{rss1 - rss0:.1f} MiB; one more GET: HTTP {r.status} in {took:.3f} s "
              f"({len(r.body)} B)")
    finally:
        for c in conns:
            c.close()


def main():
    args = sys.argv[2:]
    opt = {"--value-mib": 8, "--repeats": 96, "--slow": 40, "--slow-mib": 16}
    flags = []
    for a in args:
        name, _, val = a.partition("=")
        if name in opt:
            opt[name] = int(val)
        else:
            flags.append(a)
    with tempfile.TemporaryDirectory() as tmp:
        c = Cluster(tmp)
        try:
            meta = c.metadata()
            master = c.master()
            for run in (lambda s: repeated(s, s.p.pid, opt["--value-mib"] * MiB, opt["--repeats"]),
                        lambda s: slow(s, s.p.pid, opt["--slow-mib"] * MiB, opt["--slow"])):
                store = c.store(master, meta, "--global_segment_size=64MB",
                                "--populate_segment=false", *flags)
                run(store)
                store.stop()  # a fresh service (and peak RSS) for each
        finally:
            c.teardown()


if __name__ == "__main__":
    main()
