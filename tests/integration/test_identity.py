"""Identity, not just membership (docs/security.md, "Identity"): a rogue
that holds the cluster token cannot remount or unmount another store
service's segment, cannot replace or delete another's descriptor, a reader
refuses a descriptor that is not the master's segment, and a local client
whose uid is not an admin uid cannot run remove_all over the IPC socket.

The rogue here knows everything the wire shows outside a mount: the
victim's client id and segment id (from a ping and a replica list it saw),
its name, endpoint, base and size; never the segment secret."""
import http.client
import http.server
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.parse

import pytest

from conftest import request
from test_auth import tokens  # noqa: F401 (the fixture: cluster and admin token files)

MiB = 1 << 20
PUB = "X-Mooncake-Publisher"


def call(method, url, token, body=None, headers=None):
    h = {"Authorization": f"Bearer {token}", **(headers or {})}
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    return request(method, url, body=body, headers=h, auth=False)


def q(key):
    return urllib.parse.quote(key, safe="")


def metric(store, token, name):
    for line in call("GET", f"{store.url}/metrics", token).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def seg_name(store):
    return next(a.split("=", 1)[1] for a in store.args if a.startswith("--local_hostname="))


class Sniffer:
    """An HTTP proxy in front of the master that records the request bodies
    it forwards (what someone on the path sees), except mount replies."""

    def __init__(self, master_port):
        self.bodies = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _forward(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                outer.bodies.append((self.path, body))
                c = http.client.HTTPConnection("127.0.0.1", master_port, timeout=10)
                hdrs = {k: v for k, v in self.headers.items()
                        if k.lower() not in ("host", "connection")}
                c.request(self.command, self.path, body=body, headers=hdrs)
                r = c.getresponse()
                data = r.read()
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                c.close()

            do_GET = do_POST = do_PUT = do_DELETE = _forward

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def client_id_from_ping(self):
        for path, body in self.bodies:
            if path.endswith("/ping") and body:
                return json.loads(body)["client_id"]
        return None

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def sniffed(cluster, tokens):
    md = cluster.metadata(*tokens["flags"])
    m = cluster.master(*tokens["flags"])
    sn = Sniffer(m.port)
    s = cluster.store(None, md, *tokens["flags"], f"--master_server_addr=127.0.0.1:{sn.port}")
    yield md, m, s, sn
    sn.close()


def victim_ids(m, s, sn, tok):
    """What the rogue learned: the victim's client id (a ping it saw) and its
    segment's id and epoch (a replica list of a key put there)."""
    assert call("PUT", f"{s.url}/api/v1/objects/victim-key", tok, body=b"v" * 4096).status == 200
    r = call("POST", f"{m.url}/api/v1/get_replica_list", tok, body={"keys": ["victim-key"]})
    assert r.status == 200, r.text
    rep = r.json()["results"][0]["replicas"][0]
    deadline = time.monotonic() + 10
    while not sn.client_id_from_ping() and time.monotonic() < deadline:
        time.sleep(0.1)
    client = sn.client_id_from_ping()
    assert client, "no ping seen"
    return client, rep


def test_rogue_cannot_remount_or_unmount_anothers_segment(sniffed, tokens):
    md, m, s, sn = sniffed
    tok = tokens["cluster"]
    client, rep = victim_ids(m, s, sn, tok)
    seg_id = rep["segment_id"]
    name = seg_name(s)
    spec = {"id": seg_id, "name": name, "endpoint": name, "protocol": "tcp",
            "base": rep["addr"] - rep["offset"], "size": 32 * MiB}
    # a remount under the victim's own ids, without the secret (or a guessed one)
    for extra in ({}, {"secret": "0" * 64}):
        r = call("POST", f"{m.url}/api/v1/mount_segment", tok,
                 body={"client_id": client, "segment": spec, **extra})
        assert r.status == 403 and r.json()["code"] == -601, r.text
    # the same id, or the victim's name, under the rogue's own client id
    rogue = "11111111-2222-4333-8444-555555555555"
    for seg in (spec, {**spec, "id": "66666666-7777-4888-9999-000000000000"}):
        r = call("POST", f"{m.url}/api/v1/mount_segment", tok,
                 body={"client_id": rogue, "segment": seg})
        assert r.status == 403 and r.json()["code"] == -601, r.text
    # unmount, immediate and graceful, with the victim's ids
    for graceful in (False, True):
        r = call("POST", f"{m.url}/api/v1/unmount_segment", tok,
                 body={"segment_id": seg_id, "client_id": client, "graceful": graceful})
        assert r.status == 403 and r.json()["code"] == -601, r.text
    # nothing happened: the victim's data is still served, its segment mounted
    r = call("GET", f"{s.url}/api/v1/objects/victim-key", tok)
    assert r.status == 200 and r.body == b"v" * 4096
    r = call("GET", f"{m.url}/get_all_segments", tok)
    assert name in r.text.split("\n")
    assert "epoch" in rep and metric(s, tok, "mc_store_mounts_total") == 1


def test_rogue_cannot_replace_or_delete_anothers_descriptor(cluster, tokens):
    md = cluster.metadata(*tokens["flags"])
    m = cluster.master(*tokens["flags"])
    s = cluster.store(m, md, *tokens["flags"])
    tok = tokens["cluster"]
    url = f"{md.url}/metadata?key={q('mooncake/ram/' + seg_name(s))}"
    real = call("GET", url, tok)
    assert real.status == 200
    forged = json.loads(real.body)
    forged["endpoint"] = "127.0.0.1:1"
    for hdr in ({}, {PUB: "rogue-publisher-0123456789"}):
        r = call("PUT", url, tok, body=forged, headers=hdr)
        assert r.status == 403 and r.json()["code"] == -601, r.text
        r = call("DELETE", url, tok, headers=hdr)
        assert r.status == 403 and r.json()["code"] == -601, r.text
    assert call("GET", url, tok).body == real.body
    # a fresh key is anyone's; the rogue's own stays its own
    mine = f"{md.url}/metadata?key=rogue%2Fown"
    assert call("PUT", mine, tok, body=b"x", headers={PUB: "rogue-publisher-0123456789"}).status == 200
    assert call("PUT", mine, tok, body=b"y").status == 403
    assert call("DELETE", mine, tok, headers={PUB: "rogue-publisher-0123456789"}).status == 200


def test_reader_refuses_a_descriptor_that_is_not_the_masters_segment(cluster, tokens):
    """The descriptor of A is replaced (by an admin-token holder: a forger
    who got past the publisher rule) with one naming another endpoint and
    segment: B refuses it (counted) and reads nothing from it; once A's
    re-publish check puts its own back, B reads A's bytes."""
    md = cluster.metadata(*tokens["flags"])
    m = cluster.master(*tokens["flags"])
    a = cluster.store(m, md, *tokens["flags"])
    b = cluster.store(m, md, *tokens["flags"])
    tok, adm = tokens["cluster"], tokens["admin"]
    value = os.urandom(64 * 1024)
    r = call("PUT", f"{a.url}/api/v1/objects/on-a?preferred_segment={q(seg_name(a))}", tok,
             body=value)
    assert r.status == 200
    url = f"{md.url}/metadata?key={q('mooncake/ram/' + seg_name(a))}"
    real = call("GET", url, tok).json()
    b_desc = call("GET", f"{md.url}/metadata?key={q('mooncake/ram/' + seg_name(b))}", tok).json()
    forged = dict(real, endpoint=b_desc["endpoint"], segment_uuid=b_desc["segment_uuid"])
    assert call("PUT", url, adm, body=forged).status == 200
    r = call("GET", f"{b.url}/api/v1/objects/on-a", tok)
    assert r.status != 200 or r.body == value, "never the forged segment's bytes"
    assert r.status != 200, "the only replica's descriptor is refused"
    assert metric(b, tok, "mc_store_descriptor_refusals_total") >= 1
    # A's re-publish check (every 2 s) sees its descriptor changed and puts
    # it back (the admin's PUT kept A's claim); B then reads A's bytes
    deadline = time.monotonic() + 15
    while call("GET", url, tok).json().get("endpoint") != real["endpoint"]:
        assert time.monotonic() < deadline, "A did not republish"
        time.sleep(0.2)
    r = call("GET", f"{b.url}/api/v1/objects/on-a", tok)
    assert r.status == 200 and r.body == value


# ---- the IPC socket's admin ops ----

HELLO, REMOVE_ALL = 1, 10
RAW_CLIENT = r'''
import socket, struct, sys
def msg(op, rid, payload):
    return struct.pack("<IHHQ", len(payload), op, 0, rid) + payload
def recv(s):
    h = b""
    while len(h) < 16:
        c = s.recv(16 - len(h))
        if not c:
            raise SystemExit("closed")
        h += c
    n = struct.unpack("<I", h[:4])[0]
    b = b""
    while len(b) < n:
        b += s.recv(n - len(b))
    return b
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
name = b"rogue"
s.sendall(msg(1, 1, struct.pack("<IHHH", 0x5043494d, 1, 1, len(name)) + name))
assert struct.unpack("<i", recv(s)[:4])[0] == 0
s.sendall(msg(10, 2, struct.pack("<BQH", 1, 0, 0)))  # REMOVE_ALL, FORCE
print(struct.unpack("<i", recv(s)[:4])[0])
'''


def ipc_remove_all(sock, as_uid=None):
    """remove_all(force) over the raw IPC protocol; returns the reply status.
    as_uid: run the client as that uid (gid 0, so it may reach the 0660
    socket and pass --ipc_allowed_gids=0)."""
    cmd = [sys.executable, "-c", RAW_CLIENT, sock]
    if as_uid is not None:
        cmd = ["setpriv", f"--reuid={as_uid}", "--regid=0", "--clear-groups"] + cmd
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip())


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv to run a client under a second uid")
def test_non_admin_uid_cannot_remove_all_over_ipc(cluster, tokens):
    md = cluster.metadata(*tokens["flags"])
    m = cluster.master(*tokens["flags"])
    s = cluster.store(m, md, *tokens["flags"], "--ipc_allowed_gids=0")
    tok = tokens["cluster"]
    assert call("PUT", f"{s.url}/api/v1/objects/keep", tok, body=b"k").status == 200
    assert ipc_remove_all(s.ipc_socket, as_uid=65534) == -601
    assert call("GET", f"{s.url}/api/v1/objects/keep", tok).status == 200, "nothing removed"
    # the service's own uid is the default admin uid
    assert ipc_remove_all(s.ipc_socket) == 0
    assert call("GET", f"{s.url}/api/v1/objects/keep", tok).status == 404


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv to run a client under a second uid")
def test_listed_admin_uid_may_remove_all_over_ipc(cluster, tokens):
    md = cluster.metadata(*tokens["flags"])
    m = cluster.master(*tokens["flags"])
    s = cluster.store(m, md, *tokens["flags"], "--ipc_allowed_gids=0",
                      "--ipc_admin_uids=65534")
    tok = tokens["cluster"]
    assert call("PUT", f"{s.url}/api/v1/objects/gone", tok, body=b"g").status == 200
    assert ipc_remove_all(s.ipc_socket) == -601, "a list replaces the default"
    assert ipc_remove_all(s.ipc_socket, as_uid=65534) == 0
    assert call("GET", f"{s.url}/api/v1/objects/gone", tok).status == 404


def test_a_descriptor_planted_before_the_owner_lapses_and_the_owner_takes_over(cluster, tokens):
    """A rogue plants (and claims) a descriptor under the name a store will
    publish before it starts. The owner's publish is refused while the claim
    holds; once the rogue is silent for --publisher_ttl_ms the owner's retry
    takes the name, and readers reach the owner's bytes."""
    tok = tokens["cluster"]
    md = cluster.metadata(*tokens["flags"], "--publisher_ttl_ms=3000")  # > the store's 2 s re-publish check
    m = cluster.master(*tokens["flags"])
    b = cluster.store(m, md, *tokens["flags"])
    port = free_data_port()
    name = f"127.0.0.1:{port}"
    url = f"{md.url}/metadata?key={q('mooncake/ram/' + name)}"
    plant = call("GET", f"{md.url}/metadata?key={q('mooncake/ram/' + seg_name(b))}", tok).json()
    plant = dict(plant, name=name)  # b's endpoint and segment under a's name
    r = call("PUT", url, tok, body=plant, headers={PUB: "rogue-publisher-0123456789"})
    assert r.status == 200
    a = cluster.store(m, md, *tokens["flags"], f"--local_hostname={name}")
    assert call("GET", url, tok).json()["endpoint"] == name, "the owner's descriptor now"
    value = os.urandom(32 * 1024)
    r = call("PUT", f"{a.url}/api/v1/objects/from-a?preferred_segment={q(name)}", tok, body=value)
    assert r.status == 200
    r = call("GET", f"{b.url}/api/v1/objects/from-a", tok)
    assert r.status == 200 and r.body == value
    # and the rogue cannot take it back while the owner lives (it refreshes)
    time.sleep(3.5)  # longer than the TTL: only the owner's refreshes keep the claim
    r = call("PUT", url, tok, body=plant, headers={PUB: "rogue-publisher-0123456789"})
    assert r.status == 403, r.text


def free_data_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
