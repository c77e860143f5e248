"""Holds through mooncake_master's HTTP API: get_replica_list with "hold",
remove refused while held (after the lease ended), release, then remove."""
import re
import time
import uuid

import pytest

from conftest import request
from test_master import Master, MiB


@pytest.fixture
def master(cluster):
    return Master(cluster.master("--default_kv_lease_ttl=200", "--hold_ttl_ms=60000",
                                 "--max_holds_per_object=2"))


def test_hold_remove_release_remove(master):
    c = str(uuid.uuid4())
    master.mount(c, "seg-a")
    master.put(c, ["k1", "k2"], size=4096)
    st, res = master.post("get_replica_list", {"client_id": c, "keys": ["k1", "nope"],
                                               "hold": True})
    assert st == 200, res
    assert res["results"][0]["code"] == 0 and len(res["results"][0]["replicas"]) == 1
    assert res["results"][1]["code"] == -704
    time.sleep(0.3)  # the lease (200 ms) is over; the hold is not
    st, body = master.post("remove", {"key": "k1"})
    assert st == 409 and body["code"] == -706
    st, body = master.post("remove_all", {})
    assert st == 200
    st, body = master.post("release", {"client_id": c, "keys": ["k1", "k2", "nope"]})
    assert st == 200
    assert [r["code"] for r in body["results"]] == [0, -704, -704]  # k2 went with remove_all
    st, body = master.post("release", {"client_id": c, "key": "k1"})
    assert st == 410 and body["code"] == -707  # nothing held any more
    assert master.post("remove", {"key": "k1"})[0] == 200


def test_hold_caps_and_unknown_client(master):
    c = str(uuid.uuid4())
    master.mount(c, "seg-a")
    master.put(c, ["k"], size=4096)
    body = {"client_id": c, "keys": ["k", "k", "k"], "hold": True}
    st, res = master.post("get_replica_list", body)
    assert st == 200
    assert [r["code"] for r in res["results"]] == [0, 0, -1401]  # per-object cap of 2
    st, res = master.post("get_replica_list", {"client_id": str(uuid.uuid4()), "keys": ["k"],
                                               "hold": True})
    assert st == 404 and res["code"] == -103
    r = master.post("release", {"client_id": c, "keys": ["k", "k"]})
    assert r[0] == 200 and [x["code"] for x in r[1]["results"]] == [0, 0]


def metric(master, name):
    text = request("GET", master.proc.metrics_url + "/metrics").text
    m = re.search(rf"^{name} (\d+)", text, re.M)
    assert m, text
    return int(m.group(1))


def test_store_get_takes_and_releases_holds(cluster, master):
    store = cluster.store(master.proc, cluster.metadata())
    url = f"{store.url}/api/v1/objects/hk"
    assert request("PUT", url, body=b"x" * 10000, timeout=30).status == 200
    for _ in range(3):
        r = request("GET", url, timeout=30)
        assert r.status == 200 and len(r.body) == 10000
    assert metric(master, "mc_master_holds_taken_total") == 3
    # the store releases from a background thread, right after each get
    deadline = time.monotonic() + 10
    while metric(master, "mc_master_holds_released_total") < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert metric(master, "mc_master_holds_released_total") == 3
    # nothing held: a plain remove works once the lease is over
    time.sleep(0.3)
    assert master.post("remove", {"key": "hk"})[0] == 200
