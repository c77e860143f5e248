"""Credentials end to end (docs/security.md): bearer tokens on every HTTP API
of the three binaries, the admin token on the cluster-wide and force removes,
token files' modes, rotation with SIGHUP, the loopback rule, and a put/get
through a cluster with auth on.

Every process here is started with explicit token flags (an empty value
switches a file off), so the tests mean the same with or without
MC_TEST_AUTH=1 in the environment."""
import json
import os
import signal
import socket
import struct
import subprocess
import time
import urllib.parse

import pytest

from conftest import (MASTER, METADATA, STORE, binary, free_port, new_token, request,
                      write_token_file)

NO_AUTH = ("--auth_token_file=", "--admin_token_file=")


@pytest.fixture
def tokens(tmp_path):
    t = {"cluster": new_token(), "admin": new_token()}
    t["cluster_file"] = write_token_file(str(tmp_path / "cluster.token"), t["cluster"])
    t["admin_file"] = write_token_file(str(tmp_path / "admin.token"), t["admin"])
    t["flags"] = (f"--auth_token_file={t['cluster_file']}",
                  f"--admin_token_file={t['admin_file']}")
    return t


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def call(method, url, token=None, body=None, headers=None):
    h = dict(headers or {})
    if token is not None:
        h.update(bearer(token))
    return request(method, url, body=body, headers=h, auth=False)


@pytest.fixture
def trio(cluster, tokens):
    md = cluster.metadata(*tokens["flags"])
    m = cluster.master(*tokens["flags"])
    s = cluster.store(m, md, *tokens["flags"])
    return md, m, s


def q(key):
    return urllib.parse.quote(key, safe="")


def master_routes(m):
    keys = {"keys": ["k"]}
    posts = ["mount_segment", "unmount_segment", "ping", "put_start", "put_end", "put_revoke",
             "get_replica_list", "exist", "get_size", "remove", "remove_by_regex", "remove_all",
             "release"]
    out = [("POST", f"{m.url}/api/v1/{p}", keys) for p in posts]
    for base in (m.url, m.metrics_url):
        out += [("GET", f"{base}/query_key?key=k", None), ("GET", f"{base}/get_all_keys", None),
                ("GET", f"{base}/get_all_segments", None)]
    return out


def metadata_routes(md):
    u = f"{md.url}/metadata?key=mooncake/ram/x"
    return [("GET", u, None), ("PUT", u, {"a": 1}), ("DELETE", u, None)]


def store_routes(s):
    o = f"{s.url}/api/v1/objects/k"
    return [("PUT", f"{s.url}/api/put", {"key": "k", "value": "v"}),
            ("GET", f"{s.url}/api/get/k", None), ("GET", f"{s.url}/api/exist/k", None),
            ("DELETE", f"{s.url}/api/remove/k", None), ("DELETE", f"{s.url}/api/remove_all", None),
            ("PUT", o, b"v"), ("GET", o, None), ("HEAD", o, None), ("DELETE", o, None),
            ("POST", f"{s.url}/api/v1/batch/exist", {"keys": ["k"]}),
            ("POST", f"{s.url}/api/v1/batch/get", {"keys": ["k"]}),
            ("POST", f"{s.url}/api/v1/batch/remove", {"keys": ["k"]})]


def test_every_api_needs_a_token(trio, tokens):
    md, m, s = trio
    routes = master_routes(m) + metadata_routes(md) + store_routes(s)
    for method, url, body in routes:
        for token in (None, "wrong-" + tokens["cluster"], tokens["cluster"][:-1]):
            r = call(method, url, token, body)
            assert r.status == 401, (method, url, token, r.status, r.body)
            if method != "HEAD":
                assert r.json()["code"] == -601, (method, url, r.body)
                assert "token" in r.json()["error"]
            assert r.headers.get("WWW-Authenticate") == "Bearer"
    # a scheme other than Bearer, or the token bare, is no token
    r = call("GET", f"{m.url}/get_all_segments",
             headers={"Authorization": f"Basic {tokens['cluster']}"})
    assert r.status == 401
    r = call("GET", f"{m.url}/get_all_segments", headers={"Authorization": tokens["cluster"]})
    assert r.status == 401
    # what stays open: /health everywhere, /metrics unless asked
    for base in (md.url, m.url, m.metrics_url, s.url):
        assert call("GET", f"{base}/health").status == 200
        assert call("GET", f"{base}/metrics").status == 200
    # the right token passes (non-admin routes with the cluster token)
    assert call("GET", f"{m.url}/get_all_segments", tokens["cluster"]).status == 200
    assert call("GET", f"{m.metrics_url}/get_all_keys", tokens["cluster"]).status == 200
    assert call("GET", f"{s.url}/api/exist/nokey", tokens["cluster"]).status == 200
    u = f"{md.url}/metadata?key=mooncake/rpc_meta/t"
    assert call("PUT", u, tokens["cluster"], {"a": 1}).status == 200
    assert call("GET", u, tokens["cluster"]).json() == {"a": 1}


def test_refused_body_is_not_read(trio):
    """A request without a token is answered before its body is taken in."""
    md, m, s = trio
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
        c.sendall(b"PUT /api/v1/objects/big HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: 4194304\r\n\r\n")
        line = c.makefile("rb").readline().decode()
    assert int(line.split()[1]) == 401, line


def put(s, key, token, value=b"v" * 1000):
    return call("PUT", f"{s.url}/api/v1/objects/{q(key)}", token, value)


def exists(s, key, token):
    r = call("GET", f"{s.url}/api/exist/{q(key)}", token)
    assert r.status == 200, r.body
    return r.json()


def test_admin_calls_need_the_admin_token(trio, tokens):
    md, m, s = trio
    ct, at = tokens["cluster"], tokens["admin"]
    assert put(s, "a1", ct).status == 200
    before = exists(s, "a1", ct)
    # the master: remove_all, remove_by_regex, force remove
    r = call("POST", f"{m.url}/api/v1/remove_all", ct, {"force": True})
    assert r.status == 403 and r.json()["code"] == -601, r.body
    assert "admin" in r.json()["error"]
    assert call("POST", f"{m.url}/api/v1/remove_all", None, {"force": True}).status == 401
    r = call("POST", f"{m.url}/api/v1/remove_by_regex", ct, {"pattern": ".*", "force": True})
    assert r.status == 403
    r = call("POST", f"{m.url}/api/v1/remove", ct, {"keys": ["a1"], "force": True})
    assert r.status == 403
    # the store's routes that forward them
    assert call("DELETE", f"{s.url}/api/remove_all?force=1", ct).status == 403
    assert call("DELETE", f"{s.url}/api/v1/objects/a1?force=1", ct).status == 403
    assert call("DELETE", f"{s.url}/api/remove/a1?force=1", ct).status == 403
    r = call("POST", f"{s.url}/api/v1/batch/remove", ct, {"keys": ["a1"], "force": True})
    assert r.status == 403
    # nothing happened
    assert exists(s, "a1", ct) == before
    assert call("GET", f"{s.url}/api/v1/objects/a1", ct).status == 200
    # the admin token works, through the master and through the store
    r = call("POST", f"{m.url}/api/v1/remove_all", at, {"force": True})
    assert r.status == 200 and r.json()["removed"] == 1, r.body
    assert put(s, "a2", ct).status == 200
    r = call("DELETE", f"{s.url}/api/remove_all?force=1", at)
    assert r.status == 200, r.body
    assert call("GET", f"{s.url}/api/v1/objects/a2", ct).status == 404
    # a remove without force is a cluster call
    assert put(s, "a3", ct).status == 200
    assert call("DELETE", f"{s.url}/api/v1/objects/a3", ct).status == 200


def test_cluster_token_alone_admits_admin_calls(cluster, tokens):
    """Without --admin_token_file the cluster token is also the admin one."""
    m = cluster.master(f"--auth_token_file={tokens['cluster_file']}", "--admin_token_file=")
    assert call("POST", f"{m.url}/api/v1/remove_all", tokens["cluster"], {}).status == 200
    assert call("POST", f"{m.url}/api/v1/remove_all", tokens["admin"], {}).status == 401


def test_metrics_require_auth(cluster, tokens):
    md = cluster.metadata(*tokens["flags"], "--metrics_require_auth")
    assert call("GET", f"{md.url}/metrics").status == 401
    assert call("GET", f"{md.url}/metrics", tokens["cluster"]).status == 200
    assert call("GET", f"{md.url}/health").status == 200


def run(name, *args, timeout=15):
    return subprocess.run([binary(name), *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o620, 0o602])
def test_token_file_with_a_loose_mode_is_refused(tmp_path, tokens, mode):
    f = write_token_file(str(tmp_path / "loose.token"), tokens["cluster"], mode=mode)
    r = run(METADATA, f"--port={free_port()}", f"--auth_token_file={f}", "--admin_token_file=")
    assert r.returncode == 2
    assert f"mode {mode:04o}" in r.stderr and "chmod 0400" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_bad_token_files_are_refused(tmp_path):
    short = write_token_file(str(tmp_path / "short"), "abc")
    empty = write_token_file(str(tmp_path / "empty"))
    for f, why in ((short, "bytes"), (empty, "no token"), (str(tmp_path / "none"), "No such")):
        r = run(MASTER, f"--rpc_port={free_port()}", f"--metrics_port={free_port()}",
                f"--auth_token_file={f}", "--admin_token_file=")
        assert r.returncode == 2 and why in r.stderr, r.stderr


def test_token_file_0400_through_a_symlink(cluster, tmp_path, tokens):
    """How a Kubernetes Secret is mounted: a symlink to a 0400 file."""
    real = write_token_file(str(tmp_path / "real.token"), tokens["cluster"], mode=0o400)
    link = str(tmp_path / "link.token")
    os.symlink(real, link)
    md = cluster.metadata(f"--auth_token_file={link}", "--admin_token_file=")
    assert call("GET", f"{md.url}/metadata?key=mooncake/ram/x", tokens["cluster"]).status == 404
    assert call("GET", f"{md.url}/metadata?key=mooncake/ram/x").status == 401


def poll_status(method, url, token, want, timeout=10, body=None):
    deadline = time.monotonic() + timeout
    while True:
        st = call(method, url, token, body=body).status
        if st == want or time.monotonic() > deadline:
            return st
        time.sleep(0.02)


def test_rotation_with_sighup(cluster, tmp_path):
    old, new = new_token(), new_token()
    f = write_token_file(str(tmp_path / "rot.token"), old)
    md = cluster.metadata(f"--auth_token_file={f}", "--admin_token_file=")
    m = cluster.master(f"--auth_token_file={f}", "--admin_token_file=")
    urls = [f"{md.url}/metadata?key=mooncake/ram/x", f"{m.url}/get_all_segments"]
    assert [call("GET", u, old).status for u in urls] == [404, 200]
    assert [call("GET", u, new).status for u in urls] == [401, 401]
    # step 1: both tokens, the new one first (the one sent from now on)
    write_token_file(f, new, old)
    for p in (md, m):
        p.p.send_signal(signal.SIGHUP)
    assert [poll_status("GET", u, new, st) for u, st in zip(urls, (404, 200))] == [404, 200]
    assert [call("GET", u, old).status for u in urls] == [404, 200]
    # step 2: the new one alone: the old one is refused
    write_token_file(f, new)
    for p in (md, m):
        p.p.send_signal(signal.SIGHUP)
    assert [poll_status("GET", u, old, 401) for u in urls] == [401, 401]
    assert [call("GET", u, new).status for u in urls] == [404, 200]
    # a bad file on SIGHUP keeps the tokens there are, and says so
    os.chmod(f, 0o644)
    md.p.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "kept the old tokens" not in md.output() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "kept the old tokens" in md.output()
    assert "mode 0644" in md.output()
    assert call("GET", urls[0], new).status == 404
    assert md.alive() and m.alive()


def test_store_follows_a_rotation(cluster, tmp_path):
    """The store service's calls to the master and the metadata server use the
    first token of its file, re-read on SIGHUP."""
    old, new = new_token(), new_token()
    f_srv = write_token_file(str(tmp_path / "srv.token"), old)
    f_store = write_token_file(str(tmp_path / "store.token"), old)
    flags = (f"--auth_token_file={f_srv}", "--admin_token_file=")
    md, m = cluster.metadata(*flags), cluster.master(*flags)
    s = cluster.store(m, md, f"--auth_token_file={f_store}", "--admin_token_file=")
    assert put(s, "r1", old).status == 200
    # servers accept both, the store switches to new, servers drop old
    write_token_file(f_srv, new, old)
    for p in (md, m):
        p.p.send_signal(signal.SIGHUP)
    assert poll_status("GET", f"{m.url}/get_all_segments", new, 200) == 200
    write_token_file(f_store, new)
    s.p.send_signal(signal.SIGHUP)
    assert poll_status("GET", f"{s.url}/api/exist/x", new, 200) == 200
    write_token_file(f_srv, new)
    for p in (md, m):
        p.p.send_signal(signal.SIGHUP)
    assert poll_status("GET", f"{m.url}/get_all_segments", old, 401) == 401
    assert put(s, "r2", new).status == 200
    r = call("GET", f"{s.url}/api/v1/objects/r2", new)
    assert r.status == 200 and r.body == b"v" * 1000


BIND_CASES = [
    (METADATA, "--host=0.0.0.0", "--host"),
    (MASTER, "--rpc_address=0.0.0.0", "--rpc_address"),
    (STORE, "--host=0.0.0.0", "--host"),
    (STORE, "--local_hostname=0.0.0.0:0", "--local_hostname"),
]


def service_args(name, tmp_path):
    if name == METADATA:
        return [f"--port={free_port()}"]
    if name == MASTER:
        return [f"--rpc_port={free_port()}", f"--metrics_port={free_port()}"]
    return [f"--rest_port={free_port()}", f"--local_hostname=127.0.0.1:{free_port()}",
            "--global_segment_size=0", f"--ipc_socket=/tmp/mc-it-auth-{os.getpid()}.sock",
            f"--master_server_addr=127.0.0.1:{free_port()}", "--metadata_server=P2P"]


@pytest.mark.parametrize("name,flag,opt", BIND_CASES)
def test_remote_bind_needs_a_token(tmp_path, name, flag, opt):
    r = run(name, *service_args(name, tmp_path), flag, *NO_AUTH)
    assert r.returncode == 2, r.stderr
    assert "refusing to listen on 0.0.0.0" in r.stderr and f"({opt})" in r.stderr, r.stderr
    assert "--insecure_allow_remote" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def start_and_stop(name, make_args, want_in_log):
    """Starts name with make_args() until it is up (fresh free ports again
    when another process took one meanwhile), stops it, returns its log."""
    for _ in range(3):
        p = subprocess.Popen([binary(name), *make_args()], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        lines = []
        try:
            deadline = time.monotonic() + 15
            for line in p.stdout:
                lines.append(line)
                if "listening on http" in line or time.monotonic() > deadline:
                    break
        finally:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
            out, _ = p.communicate(timeout=15)
        text = "".join(lines) + (out or "")
        if "Address already in use" not in text:
            break
    assert p.returncode == 0, text
    assert want_in_log in text, text
    return text


@pytest.mark.parametrize("name,flag,opt", BIND_CASES)
def test_remote_bind_with_insecure_allow_remote(tmp_path, name, flag, opt):
    text = start_and_stop(name, lambda: [*service_args(name, tmp_path), flag, *NO_AUTH,
                                         "--insecure_allow_remote"], "INSECURE")
    assert "anyone who reaches the port owns the cluster" in text
    assert "auth off" in text


@pytest.mark.parametrize("name,flag,opt", BIND_CASES[:3])
def test_remote_bind_with_a_token(tmp_path, tokens, name, flag, opt):
    text = start_and_stop(name, lambda: [*service_args(name, tmp_path), flag, *tokens["flags"]],
                          "auth: cluster and admin tokens")
    assert "INSECURE" not in text


def test_put_get_through_two_stores_with_auth(cluster, tokens):
    """Auth on everywhere: a value put on one store service is read back on
    another (its descriptor fetched from the metadata server with the token,
    replicas from the master with the token)."""
    md = cluster.metadata(*tokens["flags"])
    m = cluster.master(*tokens["flags"])
    a = cluster.store(m, md, *tokens["flags"])
    b = cluster.store(m, md, "--global_segment_size=0", *tokens["flags"])
    ct = tokens["cluster"]
    value = os.urandom(3 << 20)
    r = put(a, "obj", ct, value)
    assert r.status == 200, r.body
    r = call("GET", f"{b.url}/api/v1/objects/obj", ct)
    assert r.status == 200 and r.body == value
    # Mooncake's JSON routes too
    assert call("PUT", f"{a.url}/api/put", ct, {"key": "j", "value": "hello"}).status == 200
    r = call("GET", f"{b.url}/api/get/j", ct)
    assert r.status == 200 and r.body == b"hello"
    # both segments are mounted at the master, descriptors at the metadata server
    segs = call("GET", f"{m.url}/get_all_segments", ct)
    assert segs.status == 200
    seg_a = next(x.split("=", 1)[1] for x in a.args if x.startswith("--local_hostname="))
    assert seg_a in segs.text
    r = call("GET", f"{md.url}/metadata?key={q('mooncake/ram/' + seg_a)}", ct)
    assert r.status == 200, r.body
    assert call("GET", f"{b.url}/api/v1/objects/obj").status == 401


def test_store_without_the_token_cannot_join(cluster, tokens):
    """A store service without the cluster token is refused by the master:
    it does not mount, and /health says the master is out of reach."""
    md = cluster.metadata(*tokens["flags"])
    m = cluster.master(*tokens["flags"])
    port = free_port()
    args = [f"--rest_port={port}", f"--local_hostname=127.0.0.1:{free_port()}",
            "--global_segment_size=32MB", f"--ipc_socket=/tmp/mc-it-auth-{port}.sock",
            f"--master_server_addr=127.0.0.1:{m.port}", f"--metadata_server={md.url}/metadata",
            *NO_AUTH]
    p = subprocess.Popen([binary(STORE), *args], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        health = None
        deadline = time.monotonic() + 10
        while health is None and time.monotonic() < deadline:
            try:
                health = call("GET", f"http://127.0.0.1:{port}/health")
            except OSError:
                time.sleep(0.05)
        # the first ping and mount were refused before /health answered
        assert health is not None and health.status == 503, health and health.body
        assert "master unreachable" in health.text
        r = call("GET", f"{m.url}/get_all_segments", tokens["cluster"])
        assert r.status == 200 and "127.0.0.1" not in r.text, r.body
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=15) == 0


def test_store_without_the_admin_file_cannot_wipe(cluster, tokens):
    """A store service given only the cluster file forwards remove_all with
    the cluster token: the master (which has an admin file) refuses it, and
    the store answers that refusal; nothing is removed."""
    md = cluster.metadata(*tokens["flags"])
    m = cluster.master(*tokens["flags"])
    s = cluster.store(m, md, f"--auth_token_file={tokens['cluster_file']}", "--admin_token_file=")
    ct = tokens["cluster"]
    assert put(s, "w1", ct).status == 200
    r = call("DELETE", f"{s.url}/api/remove_all?force=1", ct)
    assert r.status == 403 and r.json()["code"] == -601, r.body
    assert call("GET", f"{s.url}/api/v1/objects/w1", ct).status == 200


def raw_ping(port):
    """A PING frame on the data port without a handshake: the reply's first
    4 bytes (b"" when the service closes instead of answering)."""
    hdr = struct.pack("<4sBBHQIIQQQ", b"MCTQ", 1, 3, 0, 1, 0, 0, 0, 0, 0)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.sendall(hdr)
        try:
            return c.recv(4)
        except (ConnectionResetError, socket.timeout):
            return b""


def data_port(store):
    return int(next(a for a in store.args if a.startswith("--local_hostname=")).rsplit(":", 1)[1])


def test_data_plane_needs_the_handshake(cluster, tokens):
    """With a cluster token the store's data port serves nothing before the
    HMAC handshake (a raw frame gets no answer); without one it answers."""
    md = cluster.metadata(*tokens["flags"])
    m = cluster.master(*tokens["flags"])
    a = cluster.store(m, md, *tokens["flags"])
    assert raw_ping(data_port(a)) == b""
    open_md, open_m = cluster.metadata(*NO_AUTH), cluster.master(*NO_AUTH)
    b = cluster.store(open_m, open_md, *NO_AUTH)
    assert raw_ping(data_port(b)) == b"MCTP", "the check above can fail"


def test_data_plane_follows_a_rotation(cluster, tmp_path):
    """Two stores read each other's values over the data plane while the
    cluster token rotates in three steps (docs/security.md), SIGHUP each time."""
    old, new = new_token(), new_token()
    f = write_token_file(str(tmp_path / "cluster.token"), old)
    flags = (f"--auth_token_file={f}", "--admin_token_file=")
    md, m = cluster.metadata(*flags), cluster.master(*flags)
    a = cluster.store(m, md, *flags)
    b = cluster.store(m, md, "--global_segment_size=0", *flags)
    token = old
    for step, lines in enumerate([(old, new), (new, old), (new,)]):
        write_token_file(f, *lines)
        for p in (md, m, a, b):
            p.p.send_signal(signal.SIGHUP)
        token = lines[0]
        key = f"rot-{step}"
        value = os.urandom(1 << 20)
        assert poll_status("PUT", f"{a.url}/api/v1/objects/{key}", token, 200, body=value) == 200
        r = call("GET", f"{b.url}/api/v1/objects/{key}", token)  # b reads a's segment
        assert r.status == 200 and r.body == value, (step, r.status, r.body[:200])
    # a store that only ever knew the new token reads a's segment: a's data
    # plane took the new key on SIGHUP (it started with the old one alone)
    f_new = write_token_file(str(tmp_path / "new.token"), new)
    c = cluster.store(m, md, "--global_segment_size=0", f"--auth_token_file={f_new}",
                      "--admin_token_file=")
    r = call("GET", f"{c.url}/api/v1/objects/rot-0", new)
    assert r.status == 200 and len(r.body) == 1 << 20, (r.status, r.body[:200])
    assert raw_ping(data_port(a)) == b""
