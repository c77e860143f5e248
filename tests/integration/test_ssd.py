"""The SSD tier end to end (issue 13, docs/ssd-tier.md): a real master with
--enable_offload, real store services with --ssd_path in a temporary
directory, REST only. Every wait is a bounded poll.

Each test fails without the tier: without write-behind an object whose
memory replica was evicted is gone (404), without recovery a restarted
service's objects are, without the checks a flipped byte would be served."""
import glob
import json
import os
import re
import signal
import time
import urllib.parse

import pytest

from conftest import MASTER, STORE, request

MiB = 1 << 20
SEG = "--global_segment_size=32MB"


def q(key):
    return urllib.parse.quote(key, safe="")


def put(store, key, value):
    return request("PUT", f"{store.url}/api/v1/objects/{q(key)}", body=value, timeout=30)


def get(store, key):
    return request("GET", f"{store.url}/api/v1/objects/{q(key)}", timeout=30)


def poll(fn, timeout=20.0, step=0.05):
    """Calls fn until it returns a truthy value or timeout passes; returns the last value."""
    deadline = time.monotonic() + timeout
    v = fn()
    while not v and time.monotonic() < deadline:
        time.sleep(step)
        v = fn()
    return v


def replicas(master, key):
    """The master's replica list of key: [] when absent."""
    r = request("POST", f"{master.url}/api/v1/get_replica_list", body={"keys": [key]})
    assert r.status == 200, r.text
    res = r.json()["results"][0]
    return res.get("replicas", []) if res.get("code", 0) == 0 else []


def kinds(master, key):
    return [str(r.get("type", "")).lower() for r in replicas(master, key)]


def on_disk(master, key):
    return "disk" in kinds(master, key)


def in_memory(master, key):
    return "memory" in kinds(master, key)


def metric(store, name):
    """The value of an unlabelled metric of store (0 when absent)."""
    text = request("GET", f"{store.url}/metrics").text
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def start_master(cluster):
    return cluster.master("--enable_offload", "--default_kv_lease_ttl=200")


def ssd_store(cluster, master, meta, path, *extra, seg=SEG):
    os.makedirs(path, exist_ok=True)
    s = cluster.store(master, meta, seg, f"--ssd_path={path}", "--ssd_capacity=256MB",
                      "--ssd_bucket_bytes=4MB", *extra)
    s.ssd_path = str(path)
    return s


def restart(cluster, proc):
    """Starts proc's binary again with the same arguments (same ports)."""
    new = cluster._start(proc.name, proc.args, proc.health_url)
    for attr in ("url", "port", "metrics_url", "ipc_socket", "ssd_path"):
        if hasattr(proc, attr):
            setattr(new, attr, getattr(proc, attr))
    return new


def restart_with(cluster, proc, *extra):
    """Starts proc's binary again with extra arguments after its own."""
    new = cluster._start(proc.name, list(proc.args) + list(extra), proc.health_url)
    for attr in ("url", "port", "ipc_socket", "ssd_path"):
        if hasattr(proc, attr):
            setattr(new, attr, getattr(proc, attr))
    return new


def put_offloaded(master, store, n, size, prefix="k"):
    """Puts n values through store and waits until each has a disk replica."""
    vals = {}
    for i in range(n):
        key, val = f"{prefix}{i}", os.urandom(size)
        r = put(store, key, val)
        assert r.status == 200, r.text
        vals[key] = val
    for key in vals:
        assert poll(lambda: on_disk(master, key)), f"{key} never reached the SSD tier"
    return vals


def evict_memory(master, store, keys, size=MiB, rounds=3):
    """Puts 48 MiB of fillers (1.5 segments) per round until none of keys has
    a memory replica left. A look at the replica list grants a read lease
    (200 ms here) and makes the object the most recently used, which keeps it
    from eviction: the fillers go in after the lease, the look after them."""
    for r in range(rounds):
        time.sleep(0.3)
        for i in range(48):
            assert put(store, f"filler{r}-{i}", os.urandom(size)).status in (200, 507)
        if not any(in_memory(master, k) for k in keys):
            return
    assert False, "memory replicas never evicted"


def bucket_files(store):
    return [f for f in glob.glob(os.path.join(store.ssd_path, "*", "*"))
            if os.path.isfile(f) and os.path.basename(f) not in ("identity", "cluster_id", "lock")
            and not f.endswith(".tmp")]


@pytest.fixture
def tier(cluster, tmp_path):
    """A metadata server, a master with --enable_offload, store A (32 MB
    segment, SSD tier) and store B (no memory, no tier: it reads A's disk
    replicas through A)."""
    meta = cluster.metadata()
    m = start_master(cluster)
    a = ssd_store(cluster, m, meta, tmp_path / "ssd-a")
    b = cluster.store(m, meta, "--global_segment_size=0")
    return cluster, meta, m, a, b


def test_evicted_object_is_read_from_disk_locally_and_through_a_peer(tier):
    _, _, m, a, b = tier
    vals = put_offloaded(m, a, 6, MiB)
    odd = "odd/key&bucket=1 %2F?#é"  # reaches the peer's read route as a query value
    vals.update(put_offloaded(m, a, 1, 300000, prefix=odd))
    evict_memory(m, a, list(vals))
    for key, val in vals.items():
        assert kinds(m, key) == ["disk"]
        r = get(a, key)
        assert r.status == 200 and r.body == val, f"local disk read of {key}: {r.status}"
        r = get(b, key)
        assert r.status == 200 and r.body == val, f"remote disk read of {key}: {r.status}"
    # a batch get: the own tier's records read with one batch read
    for reader in (a, b):
        r = request("POST", f"{reader.url}/api/v1/batch/get", body={"keys": list(vals)},
                    timeout=30)
        assert r.status == 200, r.text
        hdr, _, body = r.body.partition(b"\n")
        res = json.loads(hdr)["results"]
        assert [x["code"] for x in res] == [0] * len(vals)
        assert body == b"".join(vals.values())
    assert metric(a, "mc_store_ssd_reads_total") >= len(vals)
    assert metric(a, "mc_store_ssd_served_total") >= len(vals)
    assert metric(a, "mc_store_ssd_writes_total") >= len(vals)
    # the write-behind's latency histogram has every registration
    assert metric(a, "mc_store_ssd_offload_seconds_count") >= len(vals)


def test_restarted_store_keeps_its_objects(tier):
    cluster, _, m, a, _ = tier
    vals = put_offloaded(m, a, 4, 256 << 10)
    ident = open(glob.glob(os.path.join(a.ssd_path, "*", "identity"))[0]).read()
    assert a.stop() == 0
    a = restart(cluster, a)
    assert open(glob.glob(os.path.join(a.ssd_path, "*", "identity"))[0]).read() == ident
    for key, val in vals.items():
        r = poll(lambda: get(a, key).status == 200 and get(a, key))
        assert r and r.body == val, key
    assert poll(lambda: metric(a, "mc_store_ssd_reregistered_total") >= len(vals))


def test_restarted_master_and_store_keep_the_objects(tier):
    cluster, _, m, a, b = tier
    vals = put_offloaded(m, a, 4, 256 << 10)
    # the master alone: the store remounts and re-registers its records
    assert m.stop() == 0
    m = restart(cluster, m)
    for key, val in vals.items():
        assert poll(lambda: on_disk(m, key)), f"{key} not re-registered after a master restart"
        r = get(b, key)
        assert r.status == 200 and r.body == val, key
    # then both
    assert m.stop() == 0
    assert a.stop() == 0
    m = restart(cluster, m)
    a = restart(cluster, a)
    for key, val in vals.items():
        assert poll(lambda: on_disk(m, key)), key
        r = get(a, key)
        assert r.status == 200 and r.body == val, key


def test_kill_mid_offload_keeps_every_complete_record(tier):
    cluster, _, m, a, _ = tier
    vals = {f"burst{i}": os.urandom(64 << 10) for i in range(120)}
    for key, val in vals.items():
        assert put(a, key, val).status == 200
    registered = {k for k in vals if on_disk(m, k)}  # complete before the kill
    a.stop(signal.SIGKILL)
    a = restart(cluster, a)
    served = 0
    for key, val in vals.items():
        r = poll(lambda: get(a, key).status == 200 and get(a, key), timeout=5 if key not in
                 registered else 20)
        if key in registered:
            assert r and r.body == val, f"{key} was registered before the kill and is lost"
        if r:
            assert r.body == val, f"{key}: wrong bytes after recovery"
            served += 1
    assert served >= len(registered)


def flip_value_byte(store, val):
    """Flips one byte of val's copy in the bucket files; True when found."""
    probe = val[1000:1064]
    for path in bucket_files(store):
        with open(path, "r+b") as f:
            data = f.read()
            at = data.find(probe)
            if at >= 0:
                f.seek(at + 7)
                f.write(bytes([data[at + 7] ^ 0x40]))
                return True
    return False


def test_corrupt_disk_replica_is_never_served(tier):
    _, _, m, a, b = tier
    vals = put_offloaded(m, a, 4, 256 << 10)
    evict_memory(m, a, list(vals), size=MiB)
    bad, good = "k0", "k1"
    assert flip_value_byte(a, vals[bad])
    for reader in (b, a):  # through the peer first: the owner drops it then
        r = get(reader, bad)
        assert r.status != 200, "a flipped byte was served"
        assert r.body != vals[bad]
    assert poll(lambda: not on_disk(m, bad)), "the corrupt disk replica was not dropped"
    assert get(a, good).body == vals[good]
    assert metric(a, "mc_store_ssd_read_errors_total") >= 1


def test_remove_and_remove_all_reclaim_space(tier):
    _, _, m, a, _ = tier
    vals = put_offloaded(m, a, 8, 256 << 10)
    assert poll(lambda: metric(a, "mc_store_ssd_records") == len(vals))
    # the polls above granted read leases (200 ms): a remove waits them out
    assert poll(lambda: request("DELETE", f"{a.url}/api/v1/objects/k0").status == 200)
    assert poll(lambda: metric(a, "mc_store_ssd_records") == len(vals) - 1), \
        "a removed object's record was not dropped"
    used = metric(a, "mc_store_ssd_used_bytes")
    time.sleep(0.3)  # the leases of the polls end: remove_all takes every object
    r = request("DELETE", f"{a.url}/api/remove_all")
    assert r.status == 200 and r.json()["removed"] == len(vals) - 1, r.text
    assert poll(lambda: metric(a, "mc_store_ssd_records") == 0)
    assert poll(lambda: metric(a, "mc_store_ssd_used_bytes") < used)
    assert get(a, "k1").status == 404


def test_disk_eviction_under_a_small_cap(cluster, tmp_path):
    meta = cluster.metadata()
    m = start_master(cluster)
    a = ssd_store(cluster, m, meta, tmp_path / "ssd", "--ssd_capacity=8MB",
                  "--ssd_bucket_bytes=1MB", "--ssd_bucket_keys=4")
    vals = {}
    for i in range(48):
        key, val = f"e{i}", os.urandom(256 << 10)
        assert put(a, key, val).status == 200
        vals[key] = val
    assert poll(lambda: metric(a, "mc_store_ssd_evicted_buckets_total") > 0), \
        "no bucket was evicted over the high watermark"
    assert poll(lambda: metric(a, "mc_store_ssd_used_bytes") <= 8 * MiB)
    assert poll(lambda: on_disk(m, "e47"))
    assert not on_disk(m, "e0"), "an evicted bucket's record is still registered"
    for key, val in vals.items():
        r = get(a, key)
        assert r.status in (200, 404) and (r.status != 200 or r.body == val), key


def test_routes_check_their_input(tier):
    _, _, _, a, b = tier
    bad = ["", "?key=k", "?key=k&bucket=1&offset=0&length=0&crc=0",
           "?key=k&bucket=x&offset=0&length=1&crc=0",
           "?key=k&bucket=1&offset=0&length=1&crc=4294967296",
           "?key=k&bucket=1&offset=0&length=99999999999999&crc=0"]
    for qs in bad:
        assert request("GET", f"{a.url}/api/v1/ssd/read{qs}").status == 400, qs
    assert request("GET", f"{a.url}/api/v1/ssd/read?key=k&bucket=1&offset=0&length=1&crc=0"
                   ).status == 404
    assert request("POST", f"{a.url}/api/v1/ssd/tasks", body="{").status == 400
    assert request("POST", f"{a.url}/api/v1/ssd/tasks", body={"persist": [], "drop": []}
                   ).status == 202
    # a service without a tier has no such routes
    assert request("POST", f"{b.url}/api/v1/ssd/tasks", body={}).status == 404


def test_scrub_drops_a_flipped_byte_nobody_reads(cluster, tmp_path):
    meta = cluster.metadata()
    m = start_master(cluster)
    a = ssd_store(cluster, m, meta, tmp_path / "ssd", "--ssd_bucket_keys=2",
                  "--ssd_scrub_ms=200")
    vals = put_offloaded(m, a, 4, 256 << 10)  # two sealed buckets
    assert flip_value_byte(a, vals["k0"])
    assert poll(lambda: metric(a, "mc_store_ssd_scrub_bad_total") >= 1), \
        "the scrub did not find the flipped byte"
    assert poll(lambda: not on_disk(m, "k0")), "the master still lists the bad disk replica"
    assert on_disk(m, "k1") and on_disk(m, "k3")


def test_offload_on_evict_persists_instead_of_dropping(cluster, tmp_path):
    meta = cluster.metadata()
    m = cluster.master("--offload_on_evict", "--default_kv_lease_ttl=200")
    a = ssd_store(cluster, m, meta, tmp_path / "ssd")
    vals = {f"v{i}": os.urandom(MiB) for i in range(4)}
    for key, val in vals.items():
        assert put(a, key, val).status == 200
    time.sleep(0.3)
    assert not any(on_disk(m, k) for k in vals), "persisted without --enable_offload"
    evict_memory(m, a, list(vals))
    for key, val in vals.items():
        assert poll(lambda: on_disk(m, key)), f"{key} was dropped instead of persisted"
        r = get(a, key)
        assert r.status == 200 and r.body == val, key


def test_a_full_queue_leaves_objects_in_memory(cluster, tmp_path):
    meta = cluster.metadata()
    m = start_master(cluster)
    a = ssd_store(cluster, m, meta, tmp_path / "ssd", "--ssd_queue_limit=1")
    body = {"persist": [{"key": f"q{i}", "size": 1, "checksum": 0,
                         "segment_id": "00000000-0000-0000-0000-000000000001", "offset": 0}
                        for i in range(64)], "drop": []}
    assert request("POST", f"{a.url}/api/v1/ssd/tasks", body=body).status == 202
    assert metric(a, "mc_store_ssd_queue_overflow_total") >= 1
    # tasks that do not name this service's segment are skipped, not written
    assert poll(lambda: metric(a, "mc_store_ssd_skipped_total") >= 1)
    assert metric(a, "mc_store_ssd_writes_total") == 0
    val = os.urandom(4096)
    assert put(a, "real", val).status == 200
    assert get(a, "real").body == val


def test_truncated_bucket_is_caught_at_recovery(tier):
    cluster, _, m, a, _ = tier
    a.stop()
    a = restart_with(cluster, a, "--ssd_bucket_keys=2")
    vals = put_offloaded(m, a, 6, 256 << 10)  # three buckets of two
    assert a.stop() == 0
    files = sorted(bucket_files(a), key=os.path.getmtime)
    assert len(files) >= 3, files
    with open(files[1], "r+b") as f:  # the middle bucket loses its tail
        f.truncate(os.path.getsize(files[1]) // 2)
    a = restart(cluster, a)
    assert "discarded" in a.output()
    served = 0
    for key, val in vals.items():
        r = get(a, key)
        assert r.status != 200 or r.body == val, f"{key}: wrong bytes after a truncation"
        served += r.status == 200
    assert 2 <= served < len(vals), "the truncation lost every record, or none"
