"""mooncake_master through its HTTP/JSON API (the real binary on loopback)."""
import json
import re
import threading
import time
import uuid

import pytest

from conftest import request

MiB = 1 << 20


class Master:
    def __init__(self, proc):
        self.proc = proc
        self.url = proc.url

    def post(self, op, body, raw=False):
        r = request("POST", f"{self.url}/api/v1/{op}", body=body)
        return r if raw else (r.status, r.json())

    def mount(self, client, name, size=64 * MiB, seg=None):
        seg = seg or str(uuid.uuid4())
        st, body = self.post("mount_segment", {
            "client_id": client, "segment": {"id": seg, "name": name, "endpoint": name,
                                             "protocol": "tcp", "base": 1 << 40, "size": size}})
        assert st == 200, body
        return seg

    def put(self, client, keys, size=MiB, config=None):
        body = {"client_id": client, "keys": keys, "sizes": [size] * len(keys)}
        if config:
            body["config"] = config
        st, res = self.post("put_start", body)
        assert st == 200, res
        codes = [r["code"] for r in res["results"]]
        ok = [k for k, c in zip(keys, codes) if c == 0]
        if ok:
            st, end = self.post("put_end", {"client_id": client, "keys": ok})
            assert st == 200 and all(r["code"] == 0 for r in end["results"]), end
        return res["results"]

    def replicas(self, keys):
        st, res = self.post("get_replica_list", {"keys": keys})
        assert st == 200
        return res["results"]


@pytest.fixture
def master(cluster):
    return Master(cluster.master("--default_kv_lease_ttl=300"))


def cid():
    return str(uuid.uuid4())


def test_put_get_exist_remove_flow(master):
    c = cid()
    master.mount(c, "seg-a")
    res = master.put(c, ["k1", "k2"], size=4096)
    assert all(r["code"] == 0 and len(r["replicas"]) == 1 for r in res)
    rep = res[0]["replicas"][0]
    assert rep["segment"] == "seg-a" and rep["size"] == 4096 and rep["type"] == "memory"
    assert rep["addr"] == (1 << 40) + rep["offset"]
    got = master.replicas(["k1", "nope"])
    assert got[0]["code"] == 0 and got[0]["size"] == 4096 and 0 < got[0]["lease_ms"] <= 300
    assert got[0]["replicas"][0]["offset"] == res[0]["replicas"][0]["offset"]
    assert got[1]["code"] == -704
    st, ex = master.post("exist", {"keys": ["k1", "k2", "nope"]})
    assert [r["exists"] for r in ex["results"]] == [True, True, False]
    st, sz = master.post("get_size", {"key": "k2"})
    assert st == 200 and sz["results"][0]["size"] == 4096
    # leased by the reads above: remove refuses, force wins
    st, body = master.post("remove", {"key": "k1"})
    assert st == 409 and body["code"] == -706
    st, body = master.post("remove", {"key": "k1", "force": True})
    assert st == 200
    st, body = master.post("get_replica_list", {"key": "k1"})
    assert st == 404 and body["code"] == -704


def test_lease_expires_then_remove_succeeds(master):
    c = cid()
    master.mount(c, "seg-a")
    master.put(c, ["k"])
    master.replicas(["k"])
    assert master.post("remove", {"key": "k"})[0] == 409
    time.sleep(0.4)  # lease TTL is 300 ms in this fixture
    assert master.post("remove", {"key": "k"})[0] == 200


def test_put_of_existing_key_and_stranger_put_end(master):
    a, b = cid(), cid()
    master.mount(a, "seg-a")
    master.put(a, ["k"])
    st, res = master.post("put_start", {"client_id": b, "key": "k", "size": MiB})
    assert st == 409 and res["code"] == -705
    st, res = master.post("put_start", {"client_id": a, "key": "p", "size": MiB})
    assert st == 200
    st, res = master.post("put_end", {"client_id": b, "key": "p"})
    assert st == 403 and res["code"] == -601
    st, res = master.post("put_revoke", {"client_id": a, "key": "p"})
    assert st == 200
    assert master.post("get_replica_list", {"key": "p"})[1]["code"] == -704


def test_racing_put_start_one_winner(master):
    master.mount(cid(), "seg-a", size=512 * MiB)
    clients = [cid() for _ in range(8)]
    codes = []

    def race(c):
        st, res = master.post("put_start", {"client_id": c, "key": "contended", "size": MiB})
        codes.append(res.get("code", 0) if st != 200 else 0)

    threads = [threading.Thread(target=race, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes).count(0) == 1
    assert all(c in (0, -705) for c in codes)


def test_replicas_on_distinct_segments_and_preferred(master):
    c = cid()
    for name in ("s1", "s2", "s3"):
        master.mount(c, name)
    res = master.put(c, ["r"], config={"replica_num": 3})
    segs = [r["segment"] for r in res[0]["replicas"]]
    assert sorted(segs) == ["s1", "s2", "s3"]
    res = master.put(c, ["p"], config={"replica_num": 1, "preferred_segments": ["s2"]})
    assert res[0]["replicas"][0]["segment"] == "s2"
    # more replicas than segments: best effort, at least one
    res = master.put(c, ["best"], config={"replica_num": 5})
    assert len(res[0]["replicas"]) == 3


def test_no_space_is_prompt_and_eviction_frees(cluster):
    m = Master(cluster.master("--default_kv_lease_ttl=100", "--eviction_high_watermark_ratio=0.9"))
    c = cid()
    m.mount(c, "small", size=8 * MiB)
    t0 = time.monotonic()
    st, res = m.post("put_start", {"client_id": c, "key": "huge", "size": 16 * MiB})
    assert time.monotonic() - t0 < 1.0
    assert st == 507 and res["code"] == -200
    for i in range(6):
        m.put(c, [f"obj{i}"])
    time.sleep(0.2)
    # the pool is nearly full; more puts either succeed after eviction or say -200
    deadline = time.monotonic() + 5
    placed = 0
    while time.monotonic() < deadline and placed < 6:
        res = m.put(c, [f"new{placed}"])
        if res[0]["code"] == 0:
            placed += 1
        else:
            assert res[0]["code"] == -200
            time.sleep(0.1)
    assert placed == 6, "eviction never made room"
    metrics = request("GET", m.proc.metrics_url + "/metrics").text
    assert re.search(r"^mc_master_evicted_keys_total [1-9]", metrics, re.M), metrics


def test_ping_and_client_expiry(cluster):
    m = Master(cluster.master("--client_ttl=1"))
    c = cid()
    st, body = m.post("ping", {"client_id": c})
    assert st == 200 and body["status"] == "NEED_REMOUNT"
    assert request("GET", m.url + "/get_all_segments").text == ""
    m.mount(c, "seg-live")
    m.put(c, ["k"])
    st, body = m.post("ping", {"client_id": c})
    assert body["status"] == "OK" and body["view_version"] > 0
    assert request("GET", m.url + "/get_all_segments").text == "seg-live\n"
    # stop pinging: after the TTL the segment and its replicas go
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        if request("GET", m.url + "/get_all_segments").text == "":
            break
        time.sleep(0.1)
    assert request("GET", m.url + "/get_all_segments").text == ""
    assert m.replicas(["k"])[0]["code"] == -704
    assert m.post("ping", {"client_id": c})[1]["status"] == "NEED_REMOUNT"


def test_remove_by_regex_and_remove_all(master):
    c = cid()
    master.mount(c, "seg-a", size=256 * MiB)
    master.put(c, [f"model@tp_rank:{r}@h{i}" for r in range(2) for i in range(5)], size=4096)
    st, body = master.post("remove_by_regex", {"pattern": "^model@tp_rank:1@"})
    assert st == 200 and body["removed"] == 5
    st, body = master.post("remove_by_regex", {"pattern": "(unclosed"})
    assert st == 400 and body["code"] == -600
    keys = request("GET", master.url + "/get_all_keys").text.split()
    assert len(keys) == 5 and all(k.startswith("model@tp_rank:0@") for k in keys)
    st, body = master.post("remove_all", {})
    assert st == 200 and body["removed"] == 5
    assert request("GET", master.url + "/get_all_keys").text == ""


def test_query_key_grants_no_lease(master):
    c = cid()
    master.mount(c, "seg-a")
    master.put(c, ["q"])
    r = request("GET", master.url + "/query_key?key=q")
    assert r.status == 200 and r.json()["state"] == "complete"
    assert r.json()["replicas"][0]["segment"] == "seg-a"
    assert master.post("remove", {"key": "q"})[0] == 200  # not leased by the query
    r = request("GET", master.url + "/query_key?key=q")
    assert r.status == 404
    assert request("GET", master.url + "/query_key").status == 400
    # admin port serves the same reads
    assert request("GET", master.proc.metrics_url + "/get_all_keys").status == 200


@pytest.mark.parametrize("op,body,status,code", [
    ("put_start", "{not json", 400, -600),
    ("put_start", "[1,2]", 400, -600),
    ("put_start", "", 400, -600),
    ("put_start", {"keys": ["a"]}, 400, -600),
    ("put_start", {"keys": ["a"], "sizes": ["big"]}, 400, -600),
    ("put_start", {"keys": ["a"], "sizes": [1], "config": {"replica_num": 99}}, 400, -600),
    ("put_start", {"keys": [""], "sizes": [1]}, 400, -400),
    ("put_start", {"key": "a" * 5000, "size": 1}, 400, -400),
    ("put_start", {"key": "a\u0000b", "size": 1}, 400, -400),
    ("get_replica_list", {"keys": "a"}, 400, -600),
    ("get_replica_list", {"keys": [1]}, 400, -400),
    ("exist", {}, 400, -600),
    ("mount_segment", {"client_id": "x"}, 400, -600),
    ("mount_segment", {"client_id": str(uuid.uuid4()), "segment": {"name": "n"}}, 400, -600),
    ("ping", {"client_id": 5}, 400, -600),
    ("remove_by_regex", {}, 400, -600),
    ("unmount_segment", {"segment_id": str(uuid.uuid4()), "client_id": str(uuid.uuid4())},
     404, -101),
])
def test_bad_requests_are_clear_4xx(master, op, body, status, code):
    r = master.post(op, body, raw=True)
    assert r.status == status, r.text
    assert r.json()["code"] == code
    assert r.json()["error"]
    assert request("GET", master.url + "/health").status == 200


def test_oversize_body_wrong_method_unknown_route(cluster):
    m = Master(cluster.master("--max_request_bytes=4096"))
    r = request("POST", m.url + "/api/v1/exist", body=json.dumps({"keys": ["x" * 100] * 100}))
    assert r.status == 413 and r.json()["code"] == -600
    assert request("GET", m.url + "/api/v1/exist").status == 405
    assert request("POST", m.url + "/api/v1/nope", body="{}").status == 404
    assert m.post("exist", {"keys": ["x"]})[0] == 200


def test_metrics_count_requests(master):
    master.post("exist", {"keys": ["x"]})
    master.post("get_replica_list", {"keys": ["missing1", "missing2"]})
    text = request("GET", master.url + "/metrics").text
    assert 'route="/api/v1/exist",status="200"' in text
    assert 'mc_master_key_errors_total{op="get_replica_list",code="OBJECT_NOT_FOUND"} 2' in text
    for name in ("mc_master_keys", "mc_master_capacity_bytes", "mc_master_allocated_bytes",
                 "mc_master_segments", "mc_master_clients", "mc_master_evicted_keys_total"):
        assert re.search(rf"^{name} \d", text, re.M), name


def test_epochs_differ_across_master_runs(cluster):
    """A restarted master must not reuse an earlier run's mount epochs."""
    epochs = []
    for _ in range(2):
        m = Master(cluster.master())
        st, body = m.post("mount_segment", {
            "client_id": cid(), "segment": {"id": str(uuid.uuid4()), "name": "s",
                                            "base": 0, "size": MiB}})
        assert st == 200
        epochs.append(body["epoch"])
        m.proc.stop()
    assert epochs[1] > epochs[0]


def test_mounts_out_of_bounds_are_refused(cluster):
    """A segment of 2^53 bytes, one past --max_segment_size, one whose range
    wraps, a name with a newline: 400 / -600, and nothing is placed there."""
    m = Master(cluster.master("--max_segment_size=256MB"))
    for seg in ({"name": "huge", "base": 1 << 40, "size": 1 << 53},
                {"name": "over", "base": 1 << 40, "size": 256 * MiB + 4096},
                {"name": "wraps", "base": (1 << 64) - MiB, "size": 2 * MiB},
                {"name": "a\nforged", "base": 1 << 40, "size": MiB}):
        st, body = m.post("mount_segment", {"client_id": cid(),
                                            "segment": dict(seg, id=str(uuid.uuid4()))})
        assert (st, body["code"]) == (400, -600), (seg["name"], st, body)
    assert request("GET", f"{m.url}/get_all_segments").text.strip() == ""
    m.mount(cid(), "fits", size=256 * MiB)
