"""The master's side of the SSD tier through its HTTP/JSON API: disk tiers,
disk replicas, and the master -> store channel (POST {control_url}/api/v1/
ssd/tasks), with a tiny HTTP listener in the test standing in for the store
service's control listener."""
import http.server
import json
import os
import queue
import threading
import time
import uuid

import pytest

from conftest import new_token, request, write_token_file, auth_headers

MiB = 1 << 20
WAIT_S = 10  # a bound, not a timing: a task normally arrives within milliseconds


class Listener:
    """A loopback HTTP server recording every request; answers `status`
    (202 {} by default, as the store does)."""

    def __init__(self):
        self.got = queue.Queue()
        self.status = 202
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                outer.got.put((self.path, dict(self.headers), json.loads(body)))
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def next(self, timeout=WAIT_S):
        return self.got.get(timeout=timeout)

    def tasks(self, want, timeout=WAIT_S):
        """Collects posted tasks until `want(persist, drop)` holds; returns
        them and the requests' headers."""
        persist, drop, headers = [], [], []
        deadline = time.monotonic() + timeout
        while not want(persist, drop):
            left = deadline - time.monotonic()
            assert left > 0, f"tasks so far: persist={persist} drop={drop}"
            path, hdr, body = self.next(left)
            assert path == "/api/v1/ssd/tasks"
            persist += body.get("persist", [])
            drop += body.get("drop", [])
            headers.append(hdr)
        return persist, drop, headers

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def listener():
    lst = Listener()
    yield lst
    lst.close()


class M:
    def __init__(self, proc, headers=None):
        self.proc = proc
        self.url = proc.url
        self.headers = headers
        self.secrets = {}  # client id -> the secret of the segment it mounted

    def post(self, op, body):
        r = request("POST", f"{self.url}/api/v1/{op}", body=body, headers=self.headers)
        return r.status, r.json()

    def ok(self, op, body):
        st, res = self.post(op, body)
        assert st == 200, (op, res)
        return res

    def setup_owner(self, control_url, name="host-a:1"):
        c, seg = str(uuid.uuid4()), str(uuid.uuid4())
        self.secrets[c] = self.ok("mount_segment", {"client_id": c, "segment": {
            "id": seg, "name": name, "endpoint": name, "protocol": "tcp",
            "base": 1 << 40, "size": 64 * MiB}})["secret"]
        self.ok("mount_disk", {"client_id": c, "name": name, "control_url": control_url,
                               "capacity": 1 << 30, "used": 0, "secret": self.secrets[c]})
        return c, seg

    def put(self, c, key, size=MiB, checksum=1234):
        res = self.ok("put_start", {"client_id": c, "keys": [key], "sizes": [size]})
        assert res["results"][0]["code"] == 0, res
        rep = res["results"][0]["replicas"][0]
        end = self.ok("put_end", {"client_id": c, "keys": [key], "checksums": [checksum]})
        assert end["results"][0]["code"] == 0
        return rep

    def add(self, c, items, create_missing=False):
        res = self.ok("batch_disk_replica_add",
                      {"client_id": c, "create_missing": create_missing, "items": items,
                       "secret": self.secrets[c]})
        return [r["code"] for r in res["results"]]

    def metric(self, name):
        r = request("GET", f"{self.proc.metrics_url}/metrics", headers=self.headers)
        for line in r.text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None


def test_put_end_posts_a_persist_task_and_removes_drop_tasks(cluster, listener):
    m = M(cluster.master("--enable_offload"))
    c, seg = m.setup_owner(listener.url)
    rep = m.put(c, "k1", checksum=77)
    persist, _, _ = listener.tasks(lambda p, d: len(p) >= 1)
    assert persist == [{"key": "k1", "size": MiB, "checksum": 77, "segment_id": seg,
                        "offset": rep["offset"]}]
    # the store copied it: registered; memory first, then disk
    assert m.add(c, [{"key": "k1", "size": MiB, "checksum": 77, "bucket": 5,
                      "offset": 8192, "length": MiB}]) == [0]
    got = m.ok("get_replica_list", {"keys": ["k1"]})["results"][0]
    assert [r["type"] for r in got["replicas"]] == ["memory", "disk"]
    disk = got["replicas"][1]
    assert disk["bucket"] == 5 and disk["offset"] == 8192 and disk["size"] == MiB
    assert disk["segment_id"] == c and disk["endpoint"] == listener.url
    # remove (force: the read above left a lease) -> a drop task for the owner
    m.ok("remove", {"keys": ["k1"], "force": True})
    _, drop, _ = listener.tasks(lambda p, d: len(d) >= 1)
    assert drop == [{"key": "k1", "bucket": 5}]
    # remove_all of a disk-only object (restart recovery registered it)
    assert m.add(c, [{"key": "d1", "size": 10, "checksum": 1, "bucket": 6, "offset": 0,
                      "length": 10}], create_missing=True) == [0]
    assert m.ok("remove_all", {})["removed"] == 1
    _, drop, _ = listener.tasks(lambda p, d: len(d) >= 1)
    assert drop == [{"key": "d1", "bucket": 6}]
    disks = request("GET", f"{m.proc.metrics_url}/get_all_disks").json()["disks"]
    assert len(disks) == 1 and disks[0]["control_url"] == listener.url
    assert disks[0]["replicas"] == 0
    deadline = time.monotonic() + WAIT_S
    while m.metric("mc_master_ssd_tasks_sent_total") != 3:
        assert time.monotonic() < deadline, m.metric("mc_master_ssd_tasks_sent_total")
        time.sleep(0.05)


def test_without_enable_offload_no_persist(cluster, listener):
    m = M(cluster.master())
    c, _ = m.setup_owner(listener.url)
    m.put(c, "k1")
    assert m.add(c, [{"key": "k1", "size": MiB, "checksum": 1234, "bucket": 1, "offset": 0,
                      "length": MiB}]) == [0]
    m.ok("remove", {"keys": ["k1"], "force": True})
    # the only post is the drop: no persist came before it
    persist, drop, _ = listener.tasks(lambda p, d: len(d) >= 1)
    assert persist == [] and drop == [{"key": "k1", "bucket": 1}]


def test_tasks_carry_the_cluster_token(cluster, listener, tmp_path):
    token = new_token()
    f = write_token_file(os.path.join(tmp_path, "cluster.token"), token)
    m = M(cluster.master("--enable_offload", f"--auth_token_file={f}", "--admin_token_file="),
          headers=auth_headers(token))
    c, _ = m.setup_owner(listener.url)
    m.put(c, "k1")
    _, _, headers = listener.tasks(lambda p, d: len(p) >= 1)
    assert headers[0].get("Authorization") == f"Bearer {token}"


def test_failed_posts_are_retried_then_counted(cluster, listener):
    listener.status = 503
    m = M(cluster.master("--enable_offload", "--ssd_task_attempts=3"))
    c, _ = m.setup_owner(listener.url)
    m.put(c, "k1")
    for _ in range(3):  # the first post and two retries of the same batch
        path, _, body = listener.next()
        assert body["persist"][0]["key"] == "k1"
    deadline = time.monotonic() + WAIT_S
    while m.metric("mc_master_ssd_tasks_failed_total") != 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    with pytest.raises(queue.Empty):
        listener.next(timeout=0.5)  # given up: no fourth post


def test_disk_routes_check_their_input(cluster, listener):
    m = M(cluster.master())
    c, _ = m.setup_owner(listener.url)
    sec = m.secrets[c]
    st, body = m.post("mount_disk", {"client_id": c, "name": "x", "control_url": "ftp://x",
                                     "capacity": 1, "secret": sec})
    assert st == 400 and body["code"] == -600
    st, body = m.post("batch_disk_replica_add", {"client_id": c, "items": [{"key": "k"}],
                                                 "secret": sec})
    assert st == 400
    codes = m.add(c, [{"key": "nope", "size": 1, "checksum": 0, "bucket": 1, "offset": 0,
                       "length": 1}])
    assert codes == [-704]
    res = m.ok("batch_disk_replica_remove", {"client_id": c, "items": [{"key": "nope",
                                                                        "bucket": 1}],
                                             "secret": sec})
    assert res["results"][0]["code"] == -704
    # ping with the disk's usage
    assert m.ok("ping", {"client_id": c, "disk": {"capacity": 1000, "used": 10}})["status"] == "OK"
    disks = request("GET", f"{m.proc.metrics_url}/get_all_disks").json()["disks"]
    assert disks[0]["capacity"] == 1000 and disks[0]["used"] == 10


def test_restart_with_the_secret_replaces_the_segment_keeps_disk_replicas(cluster, listener):
    m = M(cluster.master())
    c, seg = str(uuid.uuid4()), str(uuid.uuid4())
    mount = {"client_id": c, "segment": {"id": seg, "name": "host-a:1", "endpoint": "host-a:1",
                                         "protocol": "tcp", "base": 1 << 40, "size": 64 * MiB}}
    secret = m.ok("mount_segment", mount)["secret"]
    m.secrets[c] = secret
    m.ok("mount_disk", {"client_id": c, "name": "host-a:1", "control_url": listener.url,
                        "capacity": 1 << 30, "used": 0, "secret": secret})
    m.put(c, "mem")
    m.put(c, "both", checksum=5)
    assert m.add(c, [{"key": "both", "size": MiB, "checksum": 5, "bucket": 2, "offset": 0,
                      "length": MiB}]) == [0]
    # the store restarts: same client id and name, a new segment, the old secret
    mount["segment"] = dict(mount["segment"], id=str(uuid.uuid4()), base=2 << 40)
    mount["secret"] = secret
    reply = m.ok("mount_segment", mount)
    assert reply["secret"] != secret
    assert m.ok("get_replica_list", {"keys": ["mem"]})["results"][0]["code"] == -704
    got = m.ok("get_replica_list", {"keys": ["both"]})["results"][0]
    assert [r["type"] for r in got["replicas"]] == ["disk"]
    segs = request("GET", f"{m.proc.metrics_url}/get_all_segments").text.split()
    assert segs == ["host-a:1"]


def test_per_owner_gauges(cluster, listener):
    m = M(cluster.master())
    c, _ = m.setup_owner(listener.url)
    m.ok("ping", {"client_id": c, "disk": {"capacity": 5000, "used": 123}})
    name = f'mc_master_disk_owner_used_bytes{{client_id="{c}"}}'
    deadline = time.monotonic() + WAIT_S  # refreshed about once a second
    while m.metric(name) != 123:
        assert time.monotonic() < deadline, m.metric(name)
        time.sleep(0.1)
    assert m.metric(f'mc_master_disk_owner_capacity_bytes{{client_id="{c}"}}') == 5000
    assert m.metric("mc_master_disks") == 1


def test_only_the_owner_of_a_segment_acts_for_its_disk_tier(cluster, listener):
    """A caller with the cluster token but not the secret of a segment the
    client mounted can neither re-register that client's disk tier (its
    control URL, where the master sends tasks) nor add or remove its disk
    replicas: 403 -601. Before, any member knowing the client id (disk replicas
    show it) could."""
    m = M(cluster.master())
    c, _ = m.setup_owner(listener.url)
    m.put(c, "k", checksum=5)
    item = {"key": "k", "size": MiB, "checksum": 5, "bucket": 1, "offset": 0, "length": MiB}
    assert m.add(c, [item]) == [0]
    for secret in (None, "0" * 64):
        extra = {"secret": secret} if secret else {}
        st, body = m.post("mount_disk", {"client_id": c, "name": "host-a:1",
                                         "control_url": "http://127.0.0.1:9", "capacity": 1,
                                         **extra})
        assert st == 403 and body["code"] == -601, body
        st, body = m.post("batch_disk_replica_remove",
                          {"client_id": c, "items": [{"key": "k", "bucket": 1}], **extra})
        assert st == 403 and body["code"] == -601, body
        st, body = m.post("batch_disk_replica_add", {"client_id": c, "items": [item], **extra})
        assert st == 403 and body["code"] == -601, body
    got = m.ok("get_replica_list", {"keys": ["k"]})["results"][0]
    assert [r["type"] for r in got["replicas"]] == ["memory", "disk"], got
    disks = request("GET", f"{m.proc.metrics_url}/get_all_disks").json()["disks"]
    assert disks[0]["control_url"] == listener.url, disks
