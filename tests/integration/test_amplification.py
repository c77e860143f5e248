"""Amplification through the store service's REST API (#16 item 7), against
the real binaries: a small batch GET naming one large key many times, and
many connections that ask for a large value and never read the reply. The
store's peak RSS (VmHWM in /proc/<pid>/status) must stay bounded by the
reply cap and the reply memory budget. Every wait is a bounded poll."""
import json
import socket
import time

from conftest import auth_header_lines, request, not_under_tsan
from test_store import get, metric, poll, put

MiB = 1 << 20


def status_kib(proc, field):
    with open(f"/proc/{proc.p.pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{proc.p.pid}/status")


def peak_mib(proc):
    return status_kib(proc, "VmHWM") / 1024.0


def start(cluster, *extra):
    meta = cluster.metadata()
    master = cluster.master()
    # the segment is not paged in ahead (its pages would count in the RSS)
    return cluster.store(master, meta, "--global_segment_size=64MB",
                         "--populate_segment=false", *extra)


def batch_get(store, keys):
    r = request("POST", f"{store.url}/api/v1/batch/get", body={"keys": keys}, timeout=30)
    assert r.status == 200, r.text[:200]
    hlen = int(r.headers["X-Header-Length"])
    return json.loads(r.body[:hlen])["results"], r.body[hlen + 1:]


@not_under_tsan
def test_repeated_key_is_read_once_and_capped(cluster):
    """A 1 KB request naming one 2 MiB key 96 times (192 MiB of reply before
    the fix): the key is read once, the reply carries it until the cap
    (16 MiB here: 8 copies, then BUFFER_OVERFLOW), and the peak RSS grows by
    about one reply, not 96 values."""
    s = start(cluster, "--max_reply_bytes=16MB")
    value = bytes(range(256)) * (2 * MiB // 256)
    assert put(s, "big", value).status == 200
    assert get(s, "big").body == value  # the read path's buffers are warm
    keys0 = metric(s, "mc_store_get_keys_total")
    hwm0 = peak_mib(s)
    results, body = batch_get(s, ["big"] * 96)
    growth = peak_mib(s) - hwm0
    print(f"repeated key: VmHWM +{growth:.1f} MiB, reply {len(body) / MiB:.0f} MiB")
    assert [r["code"] for r in results] == [0] * 8 + [-10] * 88
    assert len(body) == 8 * len(value) and body == value * 8
    assert metric(s, "mc_store_get_keys_total") - keys0 == 1, "read once"
    assert growth < 16 + 24, f"peak RSS grew by {growth:.0f} MiB"
    assert metric(s, "mc_store_reply_reserved_bytes") == 0


def slow_reader(store, path):
    """A connection that sends a GET and never reads the reply (a small
    receive buffer, so the kernel absorbs little of it)."""
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.settimeout(10)
    c.connect(("127.0.0.1", store.port))
    c.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{auth_header_lines()}\r\n".encode())
    return c


N_SLOW = 40
VALUE = 8 * MiB  # larger than the kernel's send buffer (tcp_wmem max 4 MiB)


@not_under_tsan
def test_slow_readers_are_bounded_by_the_reply_budget(cluster):
    """40 connections GET an 8 MiB value and never read: their replies hold
    320 MiB of a 324 MiB budget; 20 more such GETs are refused with 503 at
    once (not 160 MiB more), a small GET still fits meanwhile, and once the
    readers go the budget is free again and a large GET is served."""
    s = start(cluster, f"--max_reply_memory={N_SLOW * VALUE + 4 * MiB}")
    value = b"\xab" * VALUE
    assert put(s, "big", value).status == 200
    assert put(s, "small", b"s" * 1024).status == 200
    assert get(s, "big").body == value
    hwm0 = peak_mib(s)
    slow = []
    try:
        for _ in range(N_SLOW):
            slow.append(slow_reader(s, "/api/v1/objects/big"))
        held = poll(lambda: metric(s, "mc_store_reply_reserved_bytes") >= N_SLOW * VALUE,
                    timeout=10)
        assert held, metric(s, "mc_store_reply_reserved_bytes")
        for _ in range(20):
            t0 = time.monotonic()
            r = request("GET", f"{s.url}/api/v1/objects/big", timeout=5)
            took = time.monotonic() - t0
            assert r.status == 503, (r.status, len(r.body))
            assert r.json()["code"] == -1010 and r.headers.get("Retry-After") == "1"
            assert took < 1.0, f"503 after {took:.2f} s"
        r = request("POST", f"{s.url}/api/v1/batch/get", body={"keys": ["big"]}, timeout=5)
        assert r.status == 503 and r.json()["code"] == -1010
        assert get(s, "small").body == b"s" * 1024, "a small reply fits what is left"
        growth = peak_mib(s) - hwm0
        print(f"slow readers: VmHWM +{growth:.1f} MiB with {N_SLOW} x {VALUE // MiB} MiB held")
        assert growth < N_SLOW * VALUE / MiB + 32, f"peak RSS grew by {growth:.0f} MiB"
        assert metric(s, "mc_store_reply_refused_total") == 21
    finally:
        for c in slow:
            c.close()
    assert poll(lambda: metric(s, "mc_store_reply_reserved_bytes") == 0, timeout=10), \
        "the closed connections' replies were freed"
    assert get(s, "big").body == value
