"""The real master's and store's HTTP servers under abuse (issue #16, items 4
and 8): connection floods, trickling and half-closing clients, framing.

On Linux the whole of 127/8 is loopback, so a client socket bound to
127.0.0.N before connect is a distinct client address: that is how a flood
from several addresses is made. Every flood is bounded in count and time.
"""
import json
import socket
import threading
import time

import pytest

from conftest import auth_header_lines, free_port, request

# the servers' defaults (libs/transport/include/mc/http_server.h)
PER_IP_LIMIT = 256
REQUEST_TIMEOUT_S = 10
MAX_QUERY_PARAMS = 256


@pytest.fixture
def services(cluster):
    """A master and a store service (the store registered with the master)."""
    master = cluster.master()
    store = cluster.store(master, cluster.metadata())
    return {"master": master, "store": store}


def connect_from(src, port, timeout=5):
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def closed(s, wait):
    """True when the server closed s (end of stream or reset) within wait s."""
    s.settimeout(wait)
    try:
        while s.recv(4096):
            pass
        return True
    except socket.timeout:
        return False
    except OSError:
        return True


def reply(s, wait=3):
    """What arrives on s within wait seconds, until the server closes it or
    a whole response (by Content-Length) is in."""
    s.settimeout(wait)
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
            head, sep, body = out.partition(b"\r\n\r\n")
            if sep:
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length" and len(body) >= int(v):
                        return out
    except (socket.timeout, OSError):
        pass
    return out


def status_and_json(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)


def get_from(src, port, path="/health", wait=2):
    s = connect_from(src, port, timeout=wait)
    try:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                  f"{auth_header_lines()}\r\n".encode())
        return reply(s, wait)
    finally:
        s.close()


@pytest.mark.parametrize("which", ["master", "store"])
def test_flood_from_one_address_is_capped(services, which):
    """300 idle connections from 127.0.0.2: the server keeps its per-address
    limit of them and closes the rest at once; a request from a fresh address
    is answered promptly while the flood holds its connections."""
    port = services[which].port
    flood = []
    try:
        for _ in range(PER_IP_LIMIT + 44):
            flood.append(connect_from("127.0.0.2", port))
        time.sleep(0.3)
        n_closed = sum(closed(s, 0.001) for s in flood)
        assert n_closed == 44, f"{n_closed} of {len(flood)} closed"
        t0 = time.monotonic()
        r = get_from("127.0.0.9", port)
        took = time.monotonic() - t0
        assert r.startswith(b"HTTP/1.1 200"), r[:200]
        assert took < 1.0, took
    finally:
        for s in flood:
            s.close()


def test_trickling_clients_are_cut(services):
    """A byte every 2 s keeps an idle timeout from firing; the request deadline
    (10 s from the first byte) cuts the connection anyway. Master and store at
    once, so the test takes one deadline."""
    results = {}

    def trickle(which):
        s = connect_from("127.0.0.3", services[which].port)
        t0 = time.monotonic()
        msg = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
        try:
            for b in msg:
                s.send(bytes([b]))
                if closed(s, 2.0):
                    break
                if time.monotonic() - t0 > REQUEST_TIMEOUT_S + 4:
                    results[which] = None
                    return
        except OSError:
            pass
        results[which] = time.monotonic() - t0
        s.close()

    threads = [threading.Thread(target=trickle, args=(w,)) for w in ("master", "store")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for which in ("master", "store"):
        took = results[which]
        assert took is not None, f"{which}: still open after {REQUEST_TIMEOUT_S + 4} s"
        assert REQUEST_TIMEOUT_S - 0.5 < took < REQUEST_TIMEOUT_S + 2.5, (which, took)


@pytest.mark.parametrize("which", ["master", "store"])
def test_short_body_then_fin_is_closed(services, which):
    """Content-Length 100, 5 bytes, then FIN: the request can never complete;
    the connection is closed within a second instead of at the idle timeout."""
    path = "/api/v1/ping" if which == "master" else "/api/v1/objects/k"
    method = "POST" if which == "master" else "PUT"
    s = connect_from("127.0.0.2", services[which].port)
    # corked, the part and the FIN leave in one segment: the server sees one
    # readiness event for both, the case libmicrohttpd leaves hanging
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
    s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
              f"{auth_header_lines()}"
              "Content-Type: application/json\r\n\r\n{\"a\":".encode())
    s.shutdown(socket.SHUT_WR)
    t0 = time.monotonic()
    assert closed(s, 3.0)
    assert time.monotonic() - t0 < 1.0
    s.close()


@pytest.mark.parametrize("which", ["master", "store"])
@pytest.mark.parametrize("count", [MAX_QUERY_PARAMS + 1, 5000])
def test_many_query_params_get_414(services, which, count):
    q = "&".join(f"a{i}=1" for i in range(count))
    raw = get_from("127.0.0.2", services[which].port, f"/health?{q}", wait=3)
    assert raw, "no reply"
    status, body = status_and_json(raw)
    assert status == 414
    assert body == {"error": f"query has more than {MAX_QUERY_PARAMS} parameters",
                    "code": -600}


@pytest.mark.parametrize("which", ["master", "store"])
def test_conflicting_content_length_is_400(services, which):
    path = "/api/v1/ping" if which == "master" else "/api/v1/objects/k"
    method = "POST" if which == "master" else "PUT"
    s = connect_from("127.0.0.2", services[which].port)
    s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
              f"{auth_header_lines()}Content-Length: 5\r\n\r\n{{}}xyz".encode())
    raw = reply(s)
    assert raw, "no reply"
    status, body = status_and_json(raw)
    assert status == 400
    assert body == {"error": "conflicting Content-Length headers", "code": -600}
    assert closed(s, 2.0)
    s.close()


def test_store_liveness_goes_to_the_master_cluster_port(cluster):
    """With --cluster_port on the master and --master_cluster_port on the
    store, the store's pings and mounts use the cluster listener: here the
    store's --master_server_addr names a port nobody listens on, and it still
    mounts and reports healthy (its liveness never touches the API port)."""
    cport = free_port()
    meta = cluster.metadata()
    master = cluster.master(f"--cluster_port={cport}")
    r = request("GET", f"http://127.0.0.1:{cport}/health")
    assert r.status == 200, "the cluster listener serves the API"
    dead = free_port()
    store = cluster.store(None, meta, f"--master_server_addr=127.0.0.1:{dead}",
                          f"--master_cluster_port={cport}")
    deadline = time.monotonic() + 10
    while request("GET", f"{store.url}/health").status != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert request("GET", f"{store.url}/health").status == 200
    segs = request("GET", f"{master.url}/get_all_segments").text.split()
    assert len(segs) == 1, segs
