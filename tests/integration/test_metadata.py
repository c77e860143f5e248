"""mooncake_http_metadata_server through HTTP: every row of issue 3.

Each test starts the real binary on a free loopback port (cluster fixture,
readiness on /health) and it is stopped at teardown.
"""
import http.client
import os
import re
import socket
import subprocess
import threading
import time
import urllib.parse

import pytest

from conftest import METADATA, binary, request

MIB = 1024 * 1024
DUP = "Duplicate rpc_meta key not allowed"


@pytest.fixture
def md(cluster):
    return cluster.metadata()


def url(srv, query):
    return f"{srv.url}/metadata?{query}" if query is not None else f"{srv.url}/metadata"


def key_url(srv, key):
    """/metadata?key=<key percent-encoded, '/' included>."""
    if isinstance(key, str):
        key = key.encode()
    return url(srv, "key=" + urllib.parse.quote(key, safe=""))


def put(srv, key, body):
    return request("PUT", key_url(srv, key), body=body)


def get(srv, key):
    return request("GET", key_url(srv, key))


def delete(srv, key):
    return request("DELETE", key_url(srv, key))


def put_expect_continue(srv, key, body):
    """PUT with `Expect: 100-continue`, as curl sends large bodies: the body
    goes out only after the server's 100, so an early 413 is read cleanly
    instead of racing a reset. Returns (status, headers, body)."""
    path = "/metadata?key=" + urllib.parse.quote(key, safe="")
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
                  "Expect: 100-continue\r\n\r\n".encode())
        f = s.makefile("rb")
        status = int(f.readline().split()[1])
        if status == 100:
            while f.readline() not in (b"\r\n", b""):
                pass
            s.sendall(body)
            status = int(f.readline().split()[1])
        headers = {}
        for line in iter(f.readline, b"\r\n"):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        data = f.read(int(headers.get("content-length", "0")))
        return status, headers, data


def error_of(resp):
    """The JSON error body {"error": msg, "code": n}."""
    assert resp.headers.get("Content-Type") == "application/json", resp.headers
    doc = resp.json()
    assert set(doc) == {"error", "code"}, doc
    return doc


def metrics(srv):
    r = request("GET", f"{srv.url}/metrics")
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    return r.text


def metric_value(text, name, labels=""):
    """Value of one sample `name{labels} v` (labels exactly as rendered)."""
    series = f"{name}{{{labels}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return None


# ---------------------------------------------------------------- GET/PUT/DELETE


def test_health(md):
    r = request("GET", f"{md.url}/health")
    assert r.status == 200
    assert r.json()["status"] == "ok"


def test_get_missing_is_404(md):
    r = get(md, "mooncake/ram/nothing")
    assert r.status == 404
    assert r.body == b"metadata not found"


def test_put_then_get_returns_stored_bytes_as_json(md):
    desc = b'{"name":"seg0","protocol":"tcp","buffers":[{"addr":140000000,"length":33554432}]}'
    r = put(md, "mooncake/ram/seg0", desc)
    assert r.status == 200
    assert r.body == b"metadata updated"
    r = get(md, "mooncake/ram/seg0")
    assert r.status == 200
    assert r.body == desc
    assert r.headers["Content-Type"] == "application/json"
    assert int(r.headers["Content-Length"]) == len(desc)


def test_put_overwrites_ordinary_keys(md):
    assert put(md, "mooncake/ram/seg1", b'{"v":1}').body == b"metadata updated"
    r = put(md, "mooncake/ram/seg1", b'{"v":2,"more":true}')
    assert (r.status, r.body) == (200, b"metadata updated")
    assert get(md, "mooncake/ram/seg1").body == b'{"v":2,"more":true}'
    # an identical re-put of an ordinary key is an update, not "unchanged"
    assert put(md, "mooncake/ram/seg1", b'{"v":2,"more":true}').body == b"metadata updated"


def test_delete(md):
    put(md, "mooncake/ram/gone", b"{}")
    r = delete(md, "mooncake/ram/gone")
    assert (r.status, r.body) == (200, b"metadata deleted")
    r = delete(md, "mooncake/ram/gone")
    assert (r.status, r.body) == (404, b"metadata not found")
    assert get(md, "mooncake/ram/gone").status == 404


def test_rpc_meta_keys_are_write_once(md):
    key = "mooncake/rpc_meta/node-a"
    first = b'{"ip_or_host_name":"10.0.0.1","rpc_port":12345}'
    r = put(md, key, first)
    assert (r.status, r.body) == (200, b"metadata updated")
    r = put(md, key, first)
    assert (r.status, r.body) == (200, b"metadata unchanged")
    r = put(md, key, b'{"ip_or_host_name":"10.0.0.2","rpc_port":12345}')
    assert r.status == 400
    assert DUP in r.text
    assert error_of(r)["error"] == DUP
    # a prefix of the stored value and an empty body are "different" too
    assert put(md, key, first[:10]).status == 400
    assert put(md, key, b"").status == 400
    assert get(md, key).body == first
    # delete frees the name; a new value is accepted after that
    assert delete(md, key).status == 200
    assert put(md, key, b'{"new":1}').body == b"metadata updated"
    assert get(md, key).body == b'{"new":1}'


def test_rpc_meta_rule_matches_anywhere_in_the_key(md):
    for key in ("rpc_meta", "x/rpc_meta", "foo_rpc_meta_bar", "mooncake%2Frpc_meta%2Fn"):
        k = urllib.parse.unquote(key)
        assert put(md, k, b"1").status == 200
        assert put(md, k, b"1").body == b"metadata unchanged", k
        assert put(md, k, b"2").status == 400, k
    # not rpc_meta: different spelling or case
    for k in ("rpc-meta/x", "RPC_META/x", "rpc_met/a"):
        assert put(md, k, b"1").status == 200
        assert put(md, k, b"2").body == b"metadata updated", k


# ---------------------------------------------------------------- keys


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("query,why", [
    (None, "missing or badly percent-encoded key"),
    ("", "missing or badly percent-encoded key"),
    ("other=1", "missing or badly percent-encoded key"),
    ("key=", "empty key"),
    ("key", "empty key"),
    ("key=%zz", "missing or badly percent-encoded key"),
    ("key=abc%2", "missing or badly percent-encoded key"),
    ("key=a%00b", "key contains a NUL byte"),
    ("key=%00", "key contains a NUL byte"),
])
def test_bad_key_is_400(md, method, query, why):
    r = request(method, url(md, query), body=b"{}" if method == "PUT" else None)
    assert r.status == 400, (query, r.body)
    doc = error_of(r)
    assert doc["error"] == why
    assert doc["code"] == -400  # INVALID_KEY


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_key_length_limit(md, method):
    ok = "k" * 4096
    too_long = "k" * 4097
    if method == "PUT":
        assert put(md, ok, b"{}").status == 200
    r = request(method, key_url(md, too_long), body=b"{}" if method == "PUT" else None)
    assert r.status == 400
    assert error_of(r)["error"] == "key longer than 4096 bytes"
    if method == "PUT":
        assert get(md, ok).body == b"{}"


def test_percent_encoded_slash_is_the_same_key(md):
    assert request("PUT", url(md, "key=mooncake%2Fram%2Fseg0"), body=b"A").status == 200
    assert request("GET", url(md, "key=mooncake/ram/seg0")).body == b"A"
    assert request("GET", url(md, "key=mooncake%2fram%2fseg0")).body == b"A"  # lower-case hex
    assert request("DELETE", url(md, "key=mooncake/ram%2Fseg0")).status == 200
    assert request("GET", url(md, "key=mooncake%2Fram%2Fseg0")).status == 404


def test_plus_is_a_space_and_encoded_plus_is_a_plus(md):
    # form encoding: '+' in a query is a space, "%2B" is a literal '+'
    assert request("PUT", url(md, "key=a+b"), body=b"space").status == 200
    assert request("PUT", url(md, "key=a%2Bb"), body=b"plus").status == 200
    assert request("GET", url(md, "key=a%20b")).body == b"space"
    assert get(md, "a b").body == b"space"
    assert get(md, "a+b").body == b"plus"
    assert metric_value(metrics(md), "mc_metadata_keys_stored") == 2


def test_non_ascii_and_reserved_characters_in_keys(md):
    keys = ["mooncake/ram/ünïcødé-✓", "a&b=c?d#e", "spaces and\ttabs", "%41 literal percent",
            "\x01\x7f\xff".encode("latin-1")]
    for i, k in enumerate(keys):
        assert put(md, k, str(i).encode()).status == 200, k
    for i, k in enumerate(keys):
        assert get(md, k).body == str(i).encode(), k
    # '%41' encoded is a different key from 'A'
    assert get(md, "A literal percent").status == 404


def test_other_query_parameters_are_ignored(md):
    assert request("PUT", url(md, "foo=1&key=k1&bar"), body=b"v").status == 200
    assert request("GET", url(md, "key=k1&x=%zz")).body == b"v"
    # a repeated key parameter: the first one counts
    assert request("PUT", url(md, "key=first&key=second"), body=b"1").status == 200
    assert get(md, "first").body == b"1"
    assert get(md, "second").status == 404


# ---------------------------------------------------------------- bodies


def test_body_at_and_over_default_cap(md):
    at_cap = bytes(range(256)) * (MIB // 256)
    assert len(at_cap) == MIB
    r = put(md, "big", at_cap)
    assert (r.status, r.body) == (200, b"metadata updated")
    r = get(md, "big")
    assert r.status == 200 and r.body == at_cap
    status, headers, body = put_expect_continue(md, "bigger", at_cap + b"x")
    assert status == 413
    assert headers["content-type"] == "application/json"
    assert b"larger than 1048576 bytes" in body
    assert get(md, "bigger").status == 404
    # the same path through curl-style 100-continue for a body at the cap
    assert put_expect_continue(md, "big2", at_cap)[:3:2] == (200, b"metadata updated")
    assert get(md, "big2").body == at_cap
    assert get(md, "big").body == at_cap  # untouched


def test_max_value_bytes_flag(cluster):
    md = cluster.metadata("--max_value_bytes=1000")
    assert put(md, "k", b"v" * 1000).status == 200
    r = put(md, "k", b"w" * 1001)
    assert r.status == 413
    assert "1000" in error_of(r)["error"]
    assert get(md, "k").body == b"v" * 1000


def test_max_value_bytes_accepts_sizes_and_env(cluster, monkeypatch):
    md = cluster.metadata("--max_value_bytes=2KB")
    assert put(md, "k", b"v" * 2048).status == 200
    assert put(md, "k", b"v" * 2049).status == 413
    monkeypatch.setenv("MC_METADATA_MAX_VALUE_BYTES", "100")
    md2 = cluster.metadata()
    assert put(md2, "k", b"v" * 100).status == 200
    assert put(md2, "k", b"v" * 101).status == 413


def test_max_value_bytes_from_config_file(cluster, tmp_path):
    cfg = tmp_path / "metadata.json"
    cfg.write_text('{"max_value_bytes": "512", "threads": 2}')
    md = cluster.metadata(f"--config={cfg}")
    assert put(md, "k", b"v" * 512).status == 200
    assert put(md, "k", b"v" * 513).status == 413


def test_chunked_body_over_cap_is_413(cluster):
    md = cluster.metadata("--max_value_bytes=4096")
    conn = http.client.HTTPConnection("127.0.0.1", md.port, timeout=10)
    try:
        chunks = (b"x" * 1024 for _ in range(8))
        conn.request("PUT", "/metadata?key=chunked", body=chunks, encode_chunked=True,
                     headers={"Transfer-Encoding": "chunked"})
        r = conn.getresponse()
        assert r.status == 413
        r.read()
    finally:
        conn.close()
    assert get(md, "chunked").status == 404
    # a chunked body under the cap is stored whole
    conn = http.client.HTTPConnection("127.0.0.1", md.port, timeout=10)
    try:
        conn.request("PUT", "/metadata?key=chunked", body=(b"y" * 1000 for _ in range(4)),
                     encode_chunked=True, headers={"Transfer-Encoding": "chunked"})
        r = conn.getresponse()
        assert (r.status, r.read()) == (200, b"metadata updated")
    finally:
        conn.close()
    assert get(md, "chunked").body == b"y" * 4000


def test_binary_and_empty_values(md):
    blob = bytes(range(256)) * 3
    assert put(md, "bin", blob).status == 200
    assert get(md, "bin").body == blob
    r = put(md, "empty", b"")
    assert (r.status, r.body) == (200, b"metadata updated")
    r = get(md, "empty")
    assert (r.status, r.body) == (200, b"")


# ---------------------------------------------------------------- methods


@pytest.mark.parametrize("method", ["POST", "PATCH", "OPTIONS", "TRACE"])
def test_other_methods_are_405(md, method):
    put(md, "k", b"v")
    r = request(method, key_url(md, "k"), body=b"x" if method in ("POST", "PATCH") else None)
    assert r.status == 405
    assert error_of(r)["error"] == "method not allowed"
    assert get(md, "k").body == b"v"


def test_head_is_get_without_body(md):
    put(md, "k", b'{"x":1}')
    r = request("HEAD", key_url(md, "k"))
    assert r.status == 200 and r.body == b""
    assert request("HEAD", key_url(md, "nope")).status == 404


def test_unknown_path_is_404(md):
    assert request("GET", f"{md.url}/metadata/extra?key=k").status == 404
    assert request("GET", f"{md.url}/nothing").status == 404


# ---------------------------------------------------------------- metrics


def test_metrics(md):
    put(md, "mooncake/ram/a", b"12345")
    put(md, "mooncake/ram/b", b"678")
    put(md, "mooncake/rpc_meta/x", b"1")
    put(md, "mooncake/rpc_meta/x", b"2")  # 400
    get(md, "mooncake/ram/a")
    get(md, "missing")  # 404
    delete(md, "mooncake/ram/b")
    request("POST", key_url(md, "k"))  # 405
    text = metrics(md)
    assert "# TYPE mc_metadata_keys_stored gauge" in text
    assert metric_value(text, "mc_metadata_keys_stored") == 2
    assert metric_value(text, "mc_metadata_bytes_stored", 'part="key"') == 14 + 19
    assert metric_value(text, "mc_metadata_bytes_stored", 'part="value"') == 5 + 1
    req = "mc_http_requests_total"
    assert metric_value(text, req, 'method="PUT",route="/metadata",status="200"') == 3
    assert metric_value(text, req, 'method="PUT",route="/metadata",status="400"') == 1
    assert metric_value(text, req, 'method="GET",route="/metadata",status="200"') == 1
    assert metric_value(text, req, 'method="GET",route="/metadata",status="404"') == 1
    assert metric_value(text, req, 'method="DELETE",route="/metadata",status="200"') == 1
    assert metric_value(text, req, 'method="POST",route="unmatched",status="405"') == 1
    # every sample line is well formed Prometheus text
    sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+0-9.eEinfNa]+$')
    for line in text.splitlines():
        assert line.startswith("#") or sample.match(line), line


# ---------------------------------------------------------------- flags


def test_help_lists_flags():
    out = subprocess.run([binary(METADATA), "--help"], capture_output=True, text=True,
                         timeout=10)
    assert out.returncode == 0
    for flag in ("--host", "--port", "--max_value_bytes", "--threads", "--log_level"):
        assert flag in out.stdout, flag
    assert "127.0.0.1" in out.stdout and "8080" in out.stdout


@pytest.mark.parametrize("args", [["--port=0"], ["--port=70000"], ["--max_value_bytes=lots"],
                                  ["--no_such_flag=1"], ["--log_level=loud"]])
def test_bad_flags_exit_nonzero(args):
    out = subprocess.run([binary(METADATA), *args], capture_output=True, text=True, timeout=10)
    assert out.returncode != 0
    assert out.stderr or out.stdout


def test_defaults_to_loopback(md):
    deadline = time.monotonic() + 5
    while "listening on" not in md.output() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert f"listening on http://127.0.0.1:{md.port}" in md.output()


def test_port_in_use_fails_cleanly(cluster):
    md = cluster.metadata()
    out = subprocess.run([binary(METADATA), f"--port={md.port}"], capture_output=True,
                         text=True, timeout=10)
    assert out.returncode != 0
    assert "Address already in use" in out.stderr


# ---------------------------------------------------------------- concurrency


def test_concurrent_put_get_many_keys(cluster):
    md = cluster.metadata("--threads=4")
    nthreads, nkeys = 8, 200
    errors = []

    def worker(t):
        conn = http.client.HTTPConnection("127.0.0.1", md.port, timeout=10)
        try:
            for i in range(nkeys):
                key = urllib.parse.quote(f"mooncake/ram/t{t}/k{i}", safe="")
                body = f'{{"t":{t},"i":{i}}}'.encode()
                conn.request("PUT", f"/metadata?key={key}", body=body)
                r = conn.getresponse()
                if (r.status, r.read()) != (200, b"metadata updated"):
                    errors.append(("put", t, i, r.status))
                # read a key another thread is writing: absent or complete, never torn
                other = (t + 1) % nthreads
                okey = urllib.parse.quote(f"mooncake/ram/t{other}/k{i}", safe="")
                conn.request("GET", f"/metadata?key={okey}")
                r = conn.getresponse()
                data = r.read()
                if r.status == 200 and data != f'{{"t":{other},"i":{i}}}'.encode():
                    errors.append(("torn", t, i, data))
                elif r.status not in (200, 404):
                    errors.append(("get-other", t, i, r.status))
            for i in range(nkeys):
                key = urllib.parse.quote(f"mooncake/ram/t{t}/k{i}", safe="")
                conn.request("GET", f"/metadata?key={key}")
                r = conn.getresponse()
                data = r.read()
                if (r.status, data) != (200, f'{{"t":{t},"i":{i}}}'.encode()):
                    errors.append(("get", t, i, r.status, data))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(("exception", t, repr(e)))
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(nthreads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert not any(th.is_alive() for th in threads)
    assert errors == []
    text = metrics(md)
    assert metric_value(text, "mc_metadata_keys_stored") == nthreads * nkeys
    assert metric_value(text, "mc_http_requests_total",
                        'method="PUT",route="/metadata",status="200"') == nthreads * nkeys


def test_concurrent_rpc_meta_puts_have_one_winner(md):
    results = []
    lock = threading.Lock()

    def racer(n):
        r = put(md, "mooncake/rpc_meta/race", f'{{"owner":{n}}}'.encode())
        with lock:
            results.append((n, r.status, r.body))

    threads = [threading.Thread(target=racer, args=(n,)) for n in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=30)
    winners = [n for n, status, _ in results if status == 200]
    assert len(results) == 16 and len(winners) == 1
    assert all(DUP.encode() in body for _, status, body in results if status != 200)
    assert get(md, "mooncake/rpc_meta/race").body == f'{{"owner":{winners[0]}}}'.encode()


def test_lookup_does_not_block_behind_slow_clients(cluster):
    # One worker thread, several clients stalled mid-body: lookups still answer.
    md = cluster.metadata("--threads=1")
    put(md, "mooncake/ram/seg0", b'{"ok":1}')
    slow = []
    try:
        for i in range(8):
            s = socket.create_connection(("127.0.0.1", md.port), timeout=10)
            s.sendall(f"PUT /metadata?key=slow{i} HTTP/1.1\r\nHost: x\r\n"
                      f"Content-Length: 100000\r\n\r\n".encode() + b"x" * 1000)
            slow.append(s)
        # and one that sent only half of its request line
        s = socket.create_connection(("127.0.0.1", md.port), timeout=10)
        s.sendall(b"GET /metadata?key=mooncake/ra")
        slow.append(s)
        for _ in range(20):
            t0 = time.monotonic()
            r = request("GET", key_url(md, "mooncake/ram/seg0"), timeout=2)
            assert (r.status, r.body) == (200, b'{"ok":1}')
            assert time.monotonic() - t0 < 1.0
    finally:
        for s in slow:
            s.close()
    for i in range(8):
        assert get(md, f"slow{i}").status == 404  # partial bodies never stored
    assert md.alive()


def test_clean_shutdown(cluster):
    md = cluster.metadata()
    put(md, "k", b"v")
    assert md.stop() == 0
