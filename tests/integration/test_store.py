"""mooncake_store_service end to end: one master, one metadata server, two
store services (the real binaries on loopback). Every wait is a bounded poll."""
import json
import os
import signal
import socket
import threading
import time
import urllib.parse

import pytest

from conftest import request

MiB = 1 << 20
SEG = "--global_segment_size=64MB"


def q(key):
    return urllib.parse.quote(key, safe="")


def obj_url(store, key, **params):
    url = f"{store.url}/api/v1/objects/{q(key)}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    return url


def put(store, key, value, **params):
    return request("PUT", obj_url(store, key, **params), body=value, timeout=30)


def get(store, key):
    return request("GET", obj_url(store, key), timeout=30)


def seg_name(store):
    return store.segment


def start_store(cluster, master, meta, *extra):
    s = cluster.store(master, meta, SEG, *extra)
    s.segment = next(a.split("=", 1)[1] for a in s.args if a.startswith("--local_hostname="))
    return s


def declared_put_status(store, path, length, method="PUT"):
    """Status of a request that declares `length` body bytes but sends none
    (an oversize body must be refused from its Content-Length)."""
    with socket.create_connection(("127.0.0.1", store.port), timeout=10) as c:
        c.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n"
                  "\r\n".encode())
        line = c.makefile("rb").readline().decode()
    return int(line.split()[1])


def poll(fn, timeout=15.0, step=0.1):
    """Calls fn until it returns a truthy value or timeout passes; returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


def replicas_of(master, key):
    r = request("GET", f"{master.url}/query_key?key={q(key)}")
    assert r.status == 200, r.text
    return sorted(rep["segment"] for rep in r.json()["replicas"])


@pytest.fixture
def two(cluster):
    meta = cluster.metadata()
    master = cluster.master("--client_ttl=2", "--default_kv_lease_ttl=2000")
    a = start_store(cluster, master, meta)
    b = start_store(cluster, master, meta)
    return cluster, meta, master, a, b


@pytest.mark.parametrize("size", [1, 4096, MiB, 32 * MiB])
def test_put_one_side_get_other(two, size):
    _, _, master, a, b = two
    for src, dst, tag in ((a, b, "ab"), (b, a, "ba")):
        key = f"model@tp:0@{tag}-{size}"
        value = os.urandom(size)
        r = put(src, key, value, preferred_segment=seg_name(src))
        assert r.status == 200, r.text
        assert replicas_of(master, key) == [seg_name(src)]
        g = get(dst, key)  # a remote read through the transfer engine
        assert g.status == 200, g.text
        assert g.body == value
        g = get(src, key)  # a local read (memcpy)
        assert g.status == 200 and g.body == value


def test_replica_num_two_places_on_both(two):
    _, _, master, a, b = two
    value = os.urandom(MiB + 7)
    assert put(a, "two", value, replica_num=2).status == 200
    assert replicas_of(master, "two") == sorted([seg_name(a), seg_name(b)])
    assert get(a, "two").body == value
    assert get(b, "two").body == value
    h = request("HEAD", obj_url(b, "two"))
    assert h.status == 200 and h.headers.get("X-Object-Size") == str(len(value))


def test_kill_b_then_restart(two):
    _, _, master, a, b = two
    vals = {k: os.urandom(MiB) for k in ("both", "on-a", "on-b")}
    assert put(a, "both", vals["both"], replica_num=2).status == 200
    assert put(a, "on-a", vals["on-a"], preferred_segment=seg_name(a)).status == 200
    assert put(b, "on-b", vals["on-b"], preferred_segment=seg_name(b)).status == 200
    assert replicas_of(master, "on-b") == [seg_name(b)]
    b.kill()
    for key in ("both", "on-a"):
        g = get(a, key)
        assert g.status == 200 and g.body == vals[key]
    # on-b: errors until the master expires B (client TTL 2 s), then a clean miss
    seen = []

    def miss():
        t0 = time.monotonic()
        g = get(a, "on-b")
        assert time.monotonic() - t0 < 10, "a get hung"
        assert g.status != 200, "bytes from a dead service"
        seen.append(g.status)
        return g.status == 404
    assert poll(miss, timeout=15), seen
    assert set(seen) <= {404, 502, 410}, seen
    assert get(a, "both").body == vals["both"]
    # B comes back on the same endpoints, remounts and serves new puts
    b.start()
    value = os.urandom(2 * MiB)
    assert put(b, "after", value, preferred_segment=seg_name(b)).status == 200
    assert replicas_of(master, "after") == [seg_name(b)]
    assert get(a, "after").body == value


def test_metadata_restart_republishes(two):
    _, meta, _, a, b = two
    value = os.urandom(MiB)
    assert put(a, "m1", value, preferred_segment=seg_name(a)).status == 200
    meta.stop()
    meta.start()

    def published():
        return all(request("GET", f"{meta.url}/metadata?key=mooncake/ram/{s.segment}").status
                   == 200 for s in (a, b))
    assert poll(published, timeout=15)
    assert get(b, "m1").body == value
    v2 = os.urandom(MiB)
    assert put(b, "m2", v2, preferred_segment=seg_name(a)).status == 200
    assert get(b, "m2").body == v2 and get(a, "m2").body == v2


def test_fill_pool_then_misses_are_clean(two):
    _, _, _, a, b = two
    vals = {}
    codes = []
    for i in range(40):  # 160 MiB into 128 MiB of segments
        key = f"fill-{i}"
        vals[key] = os.urandom(4 * MiB)
        r = put(a if i % 2 else b, key, vals[key])
        codes.append(r.status)
        assert r.status in (200, 507), r.text
        if r.status == 507:
            assert r.json()["code"] == -200
    hits = 0
    for key, value in vals.items():
        g = get(a, key)
        assert g.status in (200, 404), g.text
        if g.status == 200:
            assert g.body == value
            hits += 1
    assert 0 < hits < len(vals), codes


def test_concurrent_puts_same_key(two):
    _, _, _, a, b = two
    for round_ in range(5):
        key = f"race-{round_}"
        vals = [os.urandom(4 * MiB), os.urandom(4 * MiB)]
        res = [None, None]

        def go(i, store):
            res[i] = put(store, key, vals[i]).status
        ts = [threading.Thread(target=go, args=(i, s)) for i, s in enumerate((a, b))]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        assert res == [200, 200]
        ga, gb = get(a, key), get(b, key)
        assert ga.status == 200 and gb.status == 200
        assert ga.body == gb.body and ga.body in vals


def test_lease_expired_is_never_bytes(cluster):
    meta = cluster.metadata()
    master = cluster.master("--default_kv_lease_ttl=1")
    a = start_store(cluster, master, meta)
    b = start_store(cluster, master, meta)
    value = os.urandom(32 * MiB)
    assert put(a, "short", value, preferred_segment=seg_name(a)).status == 200
    g = get(b, "short")
    assert g.status == 410 and g.json()["code"] == -707, g.status


def test_master_down_health_and_remount(cluster):
    meta = cluster.metadata()
    master = cluster.master()
    a = start_store(cluster, master, meta)
    master.stop()
    assert poll(lambda: request("GET", f"{a.url}/health").status != 200, timeout=10)
    r = put(a, "x", b"v")
    assert r.status == 502 and r.json()["code"] == -900
    master.start()  # a new master: the service is told to remount
    assert poll(lambda: request("GET", f"{a.url}/health").status == 200, timeout=15)
    assert poll(lambda: put(a, "y", b"value").status == 200, timeout=10)
    assert get(a, "y").body == b"value"


def test_master_down_serves_only_still_leased_local_reads(cluster):
    """With the master unreachable, a store serves its own replicas whose read
    lease is still running, and nothing else: no lease, no bytes; lease over,
    no bytes. Both checks always run: the lease (8 s) is far longer than the
    kill and one local GET take even under sanitizers, and the expiry check
    waits from the moment the lease was surely granted."""
    ttl = 8.0
    meta = cluster.metadata()
    master = cluster.master(f"--default_kv_lease_ttl={int(ttl * 1000)}")
    a = start_store(cluster, master, meta)
    value = os.urandom(MiB)
    assert put(a, "leased", value, preferred_segment=seg_name(a)).status == 200
    assert put(a, "unread", b"x", preferred_segment=seg_name(a)).status == 200
    assert get(a, "leased").body == value  # the master grants the lease
    granted_by = time.monotonic()  # the lease was granted before this instant
    master.kill()
    g = get(a, "leased")
    assert g.status == 200 and g.body == value  # inside the lease: from our segment
    r = get(a, "unread")  # never read, so never leased: the master's error
    assert r.status == 502 and r.json()["code"] == -900
    time.sleep(max(0.0, ttl + 0.3 - (time.monotonic() - granted_by)))
    g = get(a, "leased")  # the lease is over however slow the run was
    assert g.status == 502 and g.body != value


# ---------------- REST surface ----------------

@pytest.fixture
def one(cluster):
    meta = cluster.metadata()
    master = cluster.master("--default_kv_lease_ttl=200")
    return start_store(cluster, master, meta, "--max_body_bytes=2MB")


def test_rest_mooncake_routes(one):
    s = one
    r = request("PUT", f"{s.url}/api/put", body={"key": "k1", "value": "hello"})
    assert r.status == 200, r.text
    r = request("GET", f"{s.url}/api/get/k1")
    assert r.status == 200 and r.body == b"hello"
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert request("GET", f"{s.url}/api/exist/k1").json() == {"exists": True}
    assert request("GET", f"{s.url}/api/exist/nope").json() == {"exists": False}
    r = request("GET", f"{s.url}/api/get/nope")
    assert r.status == 404 and r.json()["code"] == -704
    # a key just read holds a lease: remove waits for it or is forced
    r = request("DELETE", f"{s.url}/api/remove/k1")
    assert r.status in (200, 409), r.text
    assert poll(lambda: request("DELETE", f"{s.url}/api/remove/k1").status in (200, 404), 5)
    assert request("GET", f"{s.url}/api/get/k1").status == 404
    for i in range(3):
        assert request("PUT", f"{s.url}/api/put", body={"key": f"r{i}", "value": "x"}).status == 200
    r = request("DELETE", f"{s.url}/api/remove_all")
    assert r.status == 200 and r.json()["removed"] == 3
    # put: bad bodies
    assert request("PUT", f"{s.url}/api/put", body={"key": "e", "value": ""}).json()["code"] == -600
    assert request("PUT", f"{s.url}/api/put", body="{not json").status == 400
    assert request("PUT", f"{s.url}/api/put", body={"key": "e"}).status == 400
    assert request("PUT", f"{s.url}/api/put", body={"key": "", "value": "v"}).status == 400


def test_rest_objects_binary_safe(one):
    s = one
    key = "a/b c?d%e\u00e9#"
    value = bytes(range(256)) * 64 + b"\x00\x00"
    assert put(s, key, value).status == 200
    g = get(s, key)
    assert g.status == 200 and g.body == value
    h = request("HEAD", obj_url(s, key))
    assert h.status == 200 and h.headers["X-Object-Size"] == str(len(value))
    assert request("HEAD", obj_url(s, "absent")).status == 404
    # immutable: a second put of the key succeeds and keeps the first value
    assert put(s, key, b"other").status == 200
    assert get(s, key).body == value
    assert request("DELETE", obj_url(s, key) + "?force=true").status == 200
    assert get(s, key).status == 404
    assert request("DELETE", obj_url(s, key)).status == 404
    # options
    assert put(s, "opt", b"v", replica_num=1, soft_pin="true",
               preferred_segment=s.segment).status == 200
    for bad in ({"replica_num": "0"}, {"replica_num": "x"}, {"soft_pin": "maybe"}):
        r = put(s, "opt2", b"v", **bad)
        assert r.status == 400 and r.json()["code"] == -600, bad
    assert put(s, "empty", b"").json()["code"] == -600


def test_rest_bad_keys_bodies_methods(one):
    s = one
    assert request("GET", f"{s.url}/api/v1/objects/a%00b").status == 400
    assert request("GET", f"{s.url}/api/get/" + "k" * 4097).status in (400, 414)
    assert request("GET", f"{s.url}/api/v1/objects/%zz").status == 400
    # cap is 2 MB here: refused from the declared length, before the body
    assert declared_put_status(s, "/api/v1/objects/big", 3 * MiB) == 413
    assert declared_put_status(s, "/api/put", 3 * MiB) == 413
    assert declared_put_status(s, "/api/v1/batch/get", 5 * MiB, "POST") == 413
    assert request("POST", f"{s.url}/api/get/x").status == 405
    assert request("GET", f"{s.url}/api/put").status == 405
    assert request("PATCH", obj_url(s, "x"), body=b"v").status == 405
    assert request("GET", f"{s.url}/api/remove_all").status == 405
    assert request("GET", f"{s.url}/api/v1/nothing").status == 404
    r = request("POST", f"{s.url}/api/v1/batch/get", body={"keys": []})
    assert r.status == 400
    assert request("POST", f"{s.url}/api/v1/batch/get", body="[1,2]").status == 400


def test_rest_batch_routes(one):
    s = one
    vals = {f"b{i}": os.urandom(1000 * (i + 1)) for i in range(4)}
    for k, v in vals.items():
        assert put(s, k, v).status == 200
    keys = ["b0", "missing", "b1", "b2", "b3"]
    r = request("POST", f"{s.url}/api/v1/batch/exist", body={"keys": keys})
    assert [x["exists"] for x in r.json()["results"]] == [True, False, True, True, True]
    r = request("POST", f"{s.url}/api/v1/batch/get", body={"keys": keys})
    assert r.status == 200
    hlen = int(r.headers["X-Header-Length"])
    head = json.loads(r.body[:hlen])
    assert r.body[hlen:hlen + 1] == b"\n"
    off = hlen + 1
    for k, res in zip(keys, head["results"]):
        if k == "missing":
            assert res["code"] == -704
            continue
        assert res["code"] == 0 and res["size"] == len(vals[k])
        assert r.body[off:off + res["size"]] == vals[k]
        off += res["size"]
    assert off == len(r.body)
    r = request("POST", f"{s.url}/api/v1/batch/remove",
                body={"keys": ["b0", "missing"], "force": True})
    assert [x["code"] for x in r.json()["results"]] == [0, -704]


def test_rest_metrics(one):
    s = one
    assert put(s, "m", b"abc").status == 200
    assert get(s, "m").status == 200
    text = request("GET", f"{s.url}/metrics").text
    for name in ("mc_store_put_keys_total 1", "mc_store_get_bytes_total 3",
                 'mc_store_op_seconds_count{op="get",phase="data"}',
                 'mc_store_op_seconds_count{op="put",phase="metadata"}',
                 "mc_store_transfer_errors_total", "mc_store_segment_capacity_bytes",
                 "mc_store_segment_mounted 1"):
        assert name in text, name


def metric(store, name):
    for line in request("GET", f"{store.url}/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def test_a_killed_peer_costs_one_failed_write(cluster):
    """kill -9 of a store: the first put whose write to it fails still
    succeeds elsewhere, and later puts are not placed on it (the master keeps
    its segment for the client TTL, 30 s here, longer than this test)."""
    meta = cluster.metadata()
    master = cluster.master("--client_ttl=30")
    a = start_store(cluster, master, meta)
    b = start_store(cluster, master, meta)
    value = os.urandom(256 * 1024)
    assert put(a, "before", value, replica_num=2).status == 200
    assert replicas_of(master, "before") == sorted([seg_name(a), seg_name(b)])
    b.kill()
    r = put(a, "first", value, preferred_segment=seg_name(b))
    assert r.status == 200, r.text
    assert replicas_of(master, "first") == [seg_name(a)], "retried on the live segment"
    assert get(a, "first").body == value
    assert metric(a, "mc_store_failures_reported_total") == 1
    assert metric(a, "mc_store_put_retries_total") == 1
    errors = metric(a, "mc_store_transfer_errors_total")
    for i in range(20):
        key = f"after-{i}"
        assert put(a, key, value, replica_num=2).status == 200
        assert seg_name(b) not in replicas_of(master, key), f"{key} placed on the dead store"
    assert metric(a, "mc_store_transfer_errors_total") == errors, "no write tried the dead store"
    assert metric(a, "mc_store_put_retries_total") == 1


def flip_byte(store, master, key, at=1000):
    """Flips one byte of key's replica in store's segment through
    /proc/<pid>/mem (the test started the process, so it may write there)."""
    info = request("GET", f"{master.url}/query_key?key={q(key)}").json()
    rep = next(r for r in info["replicas"] if r["segment"] == seg_name(store))
    with open(f"/proc/{store.p.pid}/mem", "r+b", buffering=0) as mem:
        mem.seek(int(rep["addr"]) + at)
        b = mem.read(1)
        mem.seek(int(rep["addr"]) + at)
        mem.write(bytes([b[0] ^ 0x01]))
    return b[0]


def test_flipped_bytes_are_never_returned(two):
    """Every value carries the writer's CRC32C: a replica whose bytes changed
    in its segment is skipped for the next one, and with none left the read
    fails (502). Local copies and remote reads are both checked, and a bad
    replica is dropped at the master, so later reads never try it (and an
    object whose last replica was bad is a miss)."""
    _, _, master, a, b = two
    value = os.urandom(MiB)
    assert put(a, "flip", value, replica_num=2).status == 200
    assert "checksum" in request("GET", f"{master.url}/query_key?key=flip").json()
    assert flip_byte(a, master, "flip") == value[1000], "wrote where the value is"
    r = get(a, "flip")  # a's own replica first: bad, so b's
    assert r.status == 200 and r.body == value
    assert metric(a, "mc_store_checksum_mismatches_total") == 1
    # the bad replica is dropped at the master for every reader
    assert metric(a, "mc_store_bad_replicas_reported_total") == 1
    reps = request("GET", f"{master.url}/query_key?key=flip").json()["replicas"]
    assert [x["segment"] for x in reps] == [seg_name(b)], reps
    assert get(a, "flip").body == value
    assert metric(a, "mc_store_checksum_mismatches_total") == 1, "not tried again"
    flip_byte(b, master, "flip")
    r = get(a, "flip")
    assert r.status == 502 and value[:64] not in r.body, "no replica left, no bytes"
    assert get(a, "flip").status == 404, "its last replica was bad: the object is gone"
    assert put(a, "remote", value, preferred_segment=seg_name(a)).status == 200
    flip_byte(a, master, "remote")
    r = get(b, "remote")  # a data-plane read, checked after it lands
    assert r.status == 502
    assert metric(b, "mc_store_checksum_mismatches_total") >= 1
    assert metric(b, "mc_store_bad_replicas_reported_total") == 1
    assert get(b, "remote").status == 404


def test_control_characters_in_keys_are_refused_everywhere(two):
    """A newline in a key would forge lines in /get_all_keys: refused by the
    store's REST routes and by the master, and nothing reaches the listing."""
    _, _, master, a, _ = two
    for bad in ("a\nforged", "tab\tkey", "esc\x1b[0m", "del\x7f"):
        assert put(a, bad, b"x").status == 400, repr(bad)
        r = request("POST", f"{a.url}/api/v1/batch/exist", body={"keys": [bad]})
        assert r.status == 400 and r.json()["code"] == -400, repr(bad)
        r = request("POST", f"{master.url}/api/v1/put_start",
                    body={"keys": [bad], "sizes": [1]})
        assert r.status == 400 and r.json()["code"] == -400, r.text
    assert put(a, "plain", b"x").status == 200
    listing = request("GET", f"{master.url}/get_all_keys").text.splitlines()
    assert listing == ["plain"], listing


def test_a_stopped_peer_does_not_starve_local_gets(cluster):
    """B is paused (SIGSTOP) while 8 GETs of B's objects, twice A's REST
    threads, are sent to A: at most --peer_max_waiters (2) of A's threads
    wait on B, the others give up after 250 ms (502: B held the only
    replica), and a GET of A's own object is answered while B's waiters
    still wait (before: it queued behind all of them, about 12 s)."""
    meta = cluster.metadata()
    master = cluster.master("--client_ttl=60")  # B stays mounted, its keys known
    # each admitted wait lasts the transfer timeout (2 s); the handlers run
    # on the pool of --threads, first come first served
    a = start_store(cluster, master, meta, "--threads=4", "--transfer_timeout_ms=2000")
    b = start_store(cluster, master, meta)
    value = os.urandom(256 * 1024)
    for i in range(8):
        assert put(b, f"on-b-{i}", value, preferred_segment=seg_name(b)).status == 200
    assert put(a, "mine", value, preferred_segment=seg_name(a)).status == 200
    assert get(a, "on-b-0").body == value  # B answered A once: a known peer
    os.kill(b.p.pid, signal.SIGSTOP)
    try:
        done = [None] * 8

        def fetch(i):
            done[i] = get(a, f"on-b-{i}").status
        threads = [threading.Thread(target=fetch, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        time.sleep(0.6)  # past the 250 ms after which B counts as stalled
        t0 = time.monotonic()
        r = get(a, "mine")
        local_ms = (time.monotonic() - t0) * 1000
        pending = sum(1 for d in done if d is None)
        assert r.status == 200 and r.body == value
        assert pending >= 1, "the local GET came back while B's waiters still waited"
        print(f"local GET with B stopped: {local_ms:.1f} ms, {pending} of 8 B-GETs pending")
        for t in threads:
            t.join(timeout=40)
        assert all(d == 502 for d in done), done
        assert metric(a, "mc_store_peer_refusals_total") >= 1
    finally:
        os.kill(b.p.pid, signal.SIGCONT)
