"""libmooncake_client against the real binaries: one master, one metadata
server, two store services on loopback, each with its own IPC socket. The
library is driven through ctypes (the Python package is another issue);
every wait is a bounded poll."""
import ctypes
import os
import signal
import socket
import stat
import subprocess
import sys
import time

import pytest

from conftest import request

MiB = 1 << 20
SEG = "--global_segment_size=48MB"


class Slice(ctypes.Structure):
    _fields_ = [("ptr", ctypes.c_void_p), ("size", ctypes.c_size_t)]


class Cfg(ctypes.Structure):
    """mooncake_client_replicate_config_t (and store_c.h's twin)."""
    _fields_ = [("replica_num", ctypes.c_size_t), ("with_soft_pin", ctypes.c_int),
                ("with_hard_pin", ctypes.c_int),
                ("preferred_segments", ctypes.POINTER(ctypes.c_char_p)),
                ("preferred_segments_count", ctypes.c_size_t)]


def on(segment):
    """A config placing one replica on segment (kept alive with it)."""
    names = (ctypes.c_char_p * 1)(segment.encode())
    cfg = Cfg(1, 0, 0, names, 1)
    cfg._names = names
    return cfg


def lib_path():
    """libmooncake_client: an unsanitized build's (a sanitizer runtime cannot
    be loaded into python), MC_CLIENT_LIB_DIR, else MC_BUILD_DIR's."""
    d = os.environ.get("MC_CLIENT_LIB_DIR") or \
        os.path.join(os.environ.get("MC_BUILD_DIR", "build/dev"), "lib")
    return os.path.join(d, "libmooncake_client.so")


@pytest.fixture(scope="module")
def lib():
    path = lib_path()
    if not os.path.exists(path):
        pytest.fail(f"{path} not built")
    L = ctypes.CDLL(path)
    vp, sz, cp = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p
    L.mooncake_client_connect.argtypes = [cp, sz, ctypes.POINTER(vp)]
    L.mooncake_client_close.argtypes = [vp]
    L.mooncake_client_alloc_buffer.argtypes = [vp, sz]
    L.mooncake_client_alloc_buffer.restype = vp
    L.mooncake_client_put.argtypes = [vp, cp, vp, sz, ctypes.POINTER(Cfg)]
    L.mooncake_client_put_from.argtypes = [vp, cp, vp, sz, ctypes.POINTER(Cfg)]
    L.mooncake_client_get.argtypes = [vp, cp, vp, sz]
    L.mooncake_client_get.restype = ctypes.c_int64
    L.mooncake_client_get_into.argtypes = [vp, cp, vp, sz]
    L.mooncake_client_get_into.restype = ctypes.c_int64
    L.mooncake_client_is_exist.argtypes = [vp, cp]
    L.mooncake_client_health.argtypes = [vp]
    L.mooncake_client_batch_get_into.argtypes = [vp, ctypes.POINTER(cp), ctypes.POINTER(vp),
                                                 ctypes.POINTER(sz), sz,
                                                 ctypes.POINTER(ctypes.c_int64)]
    return L


def start_store(cluster, master, meta, *extra):
    s = cluster.store(master, meta, SEG, *extra)
    s.segment = next(a.split("=", 1)[1] for a in s.args if a.startswith("--local_hostname="))
    return s


@pytest.fixture
def pair(cluster):
    meta = cluster.metadata()
    master = cluster.master()
    return master, start_store(cluster, master, meta), start_store(cluster, master, meta)


def connect(lib, store):
    h = ctypes.c_void_p()
    rc = lib.mooncake_client_connect(store.ipc_socket.encode(), 1 * MiB, ctypes.byref(h))
    assert rc == 0, f"connect {store.ipc_socket}: {rc}"
    return h


def pattern(n, seed):
    return bytes((seed * 131 + i * 7 + (i >> 11)) & 0xFF for i in range(n)) if n < 4096 else \
        (bytes((seed * 131 + i * 7) & 0xFF for i in range(4096)) * (n // 4096 + 1))[:n]


def test_put_on_one_host_get_on_the_other(lib, pair):
    _, a, b = pair
    ca, cb = connect(lib, a), connect(lib, b)
    buf_a = lib.mooncake_client_alloc_buffer(ca, 8 * MiB)
    buf_b = lib.mooncake_client_alloc_buffer(cb, 8 * MiB)
    assert buf_a and buf_b
    try:
        for i, n in enumerate([1, 4096, 65536 + 7, MiB, 8 * MiB]):
            key = f"cross-{i}".encode()
            data = pattern(n, i)
            ctypes.memmove(buf_a, data, n)
            on_b = on(b.segment)
            assert lib.mooncake_client_put_from(ca, key, buf_a, n, ctypes.byref(on_b)) == 0
            # b reads its own segment; a reads b's segment over the data plane
            assert lib.mooncake_client_get_into(cb, key, buf_b, 8 * MiB) == n
            assert ctypes.string_at(buf_b, n) == data
            ctypes.memset(buf_a, 0, n)
            assert lib.mooncake_client_get_into(ca, key, buf_a, 8 * MiB) == n
            assert ctypes.string_at(buf_a, n) == data, f"remote read of {n} bytes"
            # plain memory goes through staging (larger than the 1 MiB staging too)
            plain = ctypes.create_string_buffer(n)
            assert lib.mooncake_client_get(ca, key, plain, n) == n
            assert plain.raw == data
    finally:
        lib.mooncake_client_close(ca)
        lib.mooncake_client_close(cb)


def test_socket_is_0660_and_two_services_never_share_one(cluster, pair):
    master, a, _ = pair
    mode = stat.S_IMODE(os.stat(a.ipc_socket).st_mode)
    assert mode == 0o660, oct(mode)
    meta = cluster.metadata()
    with pytest.raises(RuntimeError, match="another store service is listening"):
        cluster.store(master, meta, SEG, f"--ipc_socket={a.ipc_socket}")


def test_stale_socket_of_a_killed_service_is_reclaimed(lib, cluster, pair):
    master, a, _ = pair
    path = a.ipc_socket
    a.kill()
    assert os.path.exists(path), "SIGKILL leaves the socket file behind"
    meta = cluster.metadata()
    again = start_store(cluster, master, meta, f"--ipc_socket={path}")
    c = connect(lib, again)
    try:
        assert lib.mooncake_client_health(c) in (0, -1010)
        # on its own segment: the master still places puts on the killed one
        # until its client TTL (the resilience issue)
        own = on(again.segment)
        assert lib.mooncake_client_put(c, b"k", b"v", 1, ctypes.byref(own)) == 0
    finally:
        lib.mooncake_client_close(c)


CHILD = r"""
import ctypes, sys
L = ctypes.CDLL(sys.argv[1])
h = ctypes.c_void_p()
assert L.mooncake_client_connect(sys.argv[2].encode(), 1 << 20, ctypes.byref(h)) == 0
L.mooncake_client_alloc_buffer.restype = ctypes.c_void_p
L.mooncake_client_alloc_buffer.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
L.mooncake_client_put_from.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p,
                                       ctypes.c_size_t, ctypes.c_void_p]
buf = L.mooncake_client_alloc_buffer(h, 4 << 20)
print("ready", flush=True)
i = 0
while True:
    L.mooncake_client_put_from(h, b"child-%d" % (i % 4), buf, 4 << 20, None)
    i += 1
"""


def test_client_killed_mid_batch_leaves_the_service_serving(lib, pair):
    _, a, _ = pair
    p = subprocess.Popen([sys.executable, "-c", CHILD, lib_path(), a.ipc_socket],
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        time.sleep(0.3)  # let it be mid-request when the signal lands
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
    c = connect(lib, a)
    try:
        assert lib.mooncake_client_put(c, b"after", b"fine", 4, None) == 0
        out = ctypes.create_string_buffer(4)
        assert lib.mooncake_client_get(c, b"after", out, 4) == 4
        assert out.raw == b"fine"
    finally:
        lib.mooncake_client_close(c)
    metrics = request("GET", f"{a.url}/metrics").body.decode()
    assert "mc_store_ipc_connections_total 2" in metrics, metrics


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another uid")
def test_other_uids_are_refused_by_peer_credentials(pair):
    _, a, _ = pair
    os.chmod(os.path.dirname(a.ipc_socket), 0o777) if os.path.dirname(a.ipc_socket) != "/tmp" \
        else None
    os.chmod(a.ipc_socket, 0o666)  # let the file mode pass, so the credential check decides
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: become nobody, connect, report whether the service hung up
        try:
            os.setgid(65534)
            os.setuid(65534)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(a.ipc_socket)
            s.settimeout(5)
            os.write(w, b"closed" if s.recv(1) == b"" else b"open")
        except Exception as e:  # noqa: BLE001 - reported to the parent
            os.write(w, repr(e).encode()[:200])
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(r, 256) == b"closed"
    metrics = request("GET", f"{a.url}/metrics").body.decode()
    assert 'mc_store_ipc_rejected_total{reason="peer_cred"} 1' in metrics


def flip_in_segment(master, store, key, at=1000):
    """Flips one byte of key's replica in store's segment through
    /proc/<pid>/mem (the test started the process, so it may write there)."""
    info = request("GET", f"{master.url}/query_key?key={key}").json()
    rep = next(r for r in info["replicas"] if r["segment"] == store.segment)
    with open(f"/proc/{store.p.pid}/mem", "r+b", buffering=0) as mem:
        mem.seek(int(rep["addr"]) + at)
        old = mem.read(1)[0]
        mem.seek(int(rep["addr"]) + at)
        mem.write(bytes([old ^ 0x01]))
    return old


def test_views_are_verified_once_and_never_show_flipped_bytes(lib, pair):
    """A get_buffer view is zero-copy, so its bytes are checked against the
    writer's checksum once per replica: here b writes both replicas, so a's
    arrived over the data plane and a checks it at its first view. A flipped
    byte there is refused as a view (counted); the client's copy then reads
    b's good replica."""
    master, a, b = pair
    vp = ctypes.c_void_p
    lib.mooncake_client_get_buffer.argtypes = [vp, ctypes.c_char_p, ctypes.POINTER(vp)]
    lib.mooncake_client_get_buffer.restype = ctypes.c_int64
    for f in ("data", "size", "is_view", "release"):
        getattr(lib, f"mooncake_client_{f}_buffer" if f == "release" else
                f"mooncake_client_buffer_{f}").argtypes = [vp]
    lib.mooncake_client_buffer_data.restype = vp
    lib.mooncake_client_buffer_size.restype = ctypes.c_size_t
    ca, cb = connect(lib, a), connect(lib, b)
    two = Cfg(2, 0, 0, None, 0)

    def view(key):
        h = vp()
        n = lib.mooncake_client_get_buffer(ca, key, ctypes.byref(h))
        assert n > 0 and h, f"get_buffer {key}: {n}"
        try:
            return (ctypes.string_at(lib.mooncake_client_buffer_data(h), n),
                    lib.mooncake_client_buffer_is_view(h))
        finally:
            lib.mooncake_client_release_buffer(h)

    try:
        good, bad = pattern(256 * 1024, 3), pattern(256 * 1024, 4)
        assert lib.mooncake_client_put(cb, b"view-good", good, len(good), ctypes.byref(two)) == 0
        assert lib.mooncake_client_put(cb, b"view-bad", bad, len(bad), ctypes.byref(two)) == 0
        assert view(b"view-good") == (good, 1), "a good replica is a zero-copy view"
        assert flip_in_segment(master, a, "view-bad") == bad[1000], "flipped the value's byte"
        assert view(b"view-bad") == (bad, 0), "the flipped replica is never shown"
        mism = [ln for ln in request("GET", f"{a.url}/metrics").body.decode().splitlines()
                if ln.startswith("mc_store_checksum_mismatches_total ")]
        assert mism and float(mism[0].split()[1]) >= 1, mism
    finally:
        lib.mooncake_client_close(ca)
        lib.mooncake_client_close(cb)
