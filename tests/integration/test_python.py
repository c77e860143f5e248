"""mooncake.store (clients/python) against the real binaries on loopback:
Mooncake's hello world as written, the API's return conventions and type
errors, byte-exact round trips, numpy zero-copy through shared buffers,
threads, setup(dict) and size strings, setup_dummy against a running store
service, leases, and the embedded service's lifetime. `make test` installs
the package into a venv and runs this file with its python."""
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import pytest

from conftest import embedded_gone, embedded_sockets, request, unix_answers

try:
    from mooncake.store import MooncakeDistributedStore, ReplicateConfig
except ImportError:
    if os.environ.get("MC_PYTHON_REQUIRED"):
        raise
    pytest.skip("the mooncake package is not installed (make test installs it into a venv)",
                allow_module_level=True)

MiB = 1 << 20


@pytest.fixture
def env(monkeypatch):
    """Each test's embedded services in a runtime directory of its own."""
    runtime = tempfile.mkdtemp(prefix="mc-py-", dir="/tmp")
    bin_dir = os.path.abspath(os.environ.get("MC_BIN_DIR", "build/dev/bin"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", runtime)
    monkeypatch.setenv("MOONCAKE_STORE_SERVICE_BIN", os.path.join(bin_dir, "mooncake_store_service"))
    monkeypatch.delenv("MOONCAKE_IPC_SOCKET", raising=False)
    yield runtime
    shutil.rmtree(runtime, ignore_errors=True)


@pytest.fixture
def trio(cluster, env):
    meta = cluster.metadata()
    master = cluster.master("--default_kv_lease_ttl=1000")
    return f"{meta.url}/metadata", f"127.0.0.1:{master.port}"


@pytest.fixture
def store(trio):
    meta, master = trio
    s = MooncakeDistributedStore()
    assert s.setup("localhost", meta, 48 * MiB, 16 * MiB, "tcp", "", master) == 0
    yield s
    s.close()


def test_hello_world_as_written(trio, env):
    meta, master = trio
    store = MooncakeDistributedStore()
    # Mooncake's hello world, with this run's ports and a test-sized segment
    assert store.setup("localhost", meta, 48 * 1024 * 1024, 16 * 1024 * 1024, "tcp", "",
                       master) == 0
    store.put("hello_key", b"Hello, Mooncake Store!")
    data = store.get("hello_key")
    assert data.decode() == "Hello, Mooncake Store!"
    host, port = store.get_hostname().rsplit(":", 1)
    assert host == "localhost" and 12300 <= int(port) <= 14300
    assert len(embedded_sockets(env)) == 1
    store.close()
    assert embedded_gone(env), "the embedded service outlived close()"


def test_return_conventions(store):
    assert store.put("k", b"v1") == 0
    assert store.put("k", b"other") == 0, "an existing key is kept, not rewritten"
    assert store.get("k") == b"v1"
    assert store.get("missing") == b""
    assert store.put("bad\nkey", b"x") == -400, "control characters are refused"
    assert store.is_exist("k") == 1 and store.is_exist("missing") == 0
    assert store.isExist("k") == 1
    assert store.batch_is_exist(["k", "missing"]) == [1, 0]
    assert store.get_size("k") == 2
    assert store.get_size("missing") == -704
    assert store.put_parts("parts", b"ab", bytearray(b"cd"), memoryview(b"ef")) == 0
    assert store.get("parts") == b"abcdef"
    assert store.put_batch(["b1", "b2"], [b"x", b"yy"]) == 0
    assert store.get_batch(["b1", "b2", "nope"]) == [b"x", b"yy", b""]
    assert store.remove("b1") == -706, "leased by the get above"
    assert store.remove("b1", force=True) == 0
    assert store.batch_remove(["b2", "nope"], force=True) == [0, -704]
    assert store.remove_all(force=True) >= 2
    assert store.health_check() == 0
    assert store.put("view", b"abcdef") == 0
    h = store.get_buffer("view")
    with h:
        assert bytes(memoryview(h)) == b"abcdef" and h.size() == 6 and h.ptr() != 0
    with pytest.raises(RuntimeError):
        h.size()


def test_upsert_family_overwrites(store):
    assert store.upsert("u", b"first") == 0, "upsert of a new key is a put"
    assert store.upsert("u", b"second!") == 0
    assert store.get("u") == b"second!" and store.get_size("u") == 7
    assert store.upsert("u", b"third..") == 0, "same size: rewritten in place"
    assert store.get("u") == b"third.."
    assert store.upsert_parts("u", b"ab", b"cd") == 0
    assert store.get("u") == b"abcd"
    assert store.put_batch(["ub1", "ub2"], [b"x", b"y"]) == 0
    assert store.upsert_batch(["ub1", "ub2"], [b"xx", b"yyy"]) == 0
    assert store.get_batch(["ub1", "ub2"]) == [b"xx", b"yyy"]
    n = MiB
    ptr = store.alloc_from_mem_pool(2 * n)
    buf = (ctypes.c_char * (2 * n)).from_address(ptr)
    buf[0:n] = b"\x01" * n
    buf[n:2 * n] = b"\x02" * n
    assert store.upsert_from("u", ptr, n) == 0
    assert store.get("u") == b"\x01" * n
    assert store.batch_upsert_from(["ub1", "ub2"], [ptr, ptr + n], [n, n]) == [0, 0]
    assert store.get_batch(["ub1", "ub2"]) == [b"\x01" * n, b"\x02" * n]
    # a view taken before an upsert keeps the old bytes; a new read sees the new ones
    h = store.get_buffer("u")
    assert store.upsert("u", b"after the view") == 0
    assert bytes(memoryview(h)) == b"\x01" * n
    h.release()
    assert store.get("u") == b"after the view"
    with pytest.raises(TypeError):
        store.upsert("u", b"x", config=3)


def test_hard_pinned_puts_are_accepted_and_read_back(store):
    cfg = ReplicateConfig()
    cfg.with_hard_pin = True
    assert store.put("pinned", b"keep me", config=cfg) == 0
    assert store.get("pinned") == b"keep me"


def test_type_and_keyword_errors(store, trio):
    with pytest.raises(TypeError):
        store.put(1, b"x")
    with pytest.raises(TypeError):
        store.put("k", b"x", config="not a config")
    with pytest.raises(TypeError):
        store.get_into("k", "not an address", 4)
    with pytest.raises(TypeError):
        store.remove("k", forse=True)
    with pytest.raises(TypeError):
        store.batch_is_exist("not a list")
    with pytest.raises(TypeError):
        MooncakeDistributedStore().setup("localhost", trio[0], no_such_option=1)
    with pytest.raises(ValueError, match="50%"):
        MooncakeDistributedStore().setup({"local_hostname": "localhost",
                                          "metadata_server": trio[0],
                                          "global_segment_size": "50%"})


@pytest.mark.parametrize("n", [1, 4096, 65536 + 3, MiB, 16 * MiB + 1])
def test_byte_exact_round_trips(store, n):
    data = os.urandom(n)
    key = f"rt-{n}"
    assert store.put(key, data) == 0
    assert store.get(key) == data


def test_numpy_zero_copy_through_shared_buffers(store):
    np = pytest.importorskip("numpy")
    n = 4 * MiB
    ptr = store.alloc_from_mem_pool(2 * n)
    assert ptr
    buf = np.ctypeslib.as_array((ctypes.c_uint8 * (2 * n)).from_address(ptr))
    src, dst = buf[:n], buf[n:]
    src[:] = np.random.randint(0, 256, n, dtype=np.uint8)
    assert store.register_buffer(ptr, 2 * n) == 0
    assert store.put_from("np", ptr, n) == 0
    assert store.get_into("np", ptr + n, n) == n
    assert np.array_equal(src, dst)
    # batches and the multi-buffer form: 4 keys, each as 4 fragments of 64 KiB
    keys = [f"np-{i}" for i in range(4)]
    frag = 64 * 1024
    ptrs = [[ptr + (i * 4 + j) * frag for j in range(4)] for i in range(4)]
    sizes = [[frag] * 4 for _ in range(4)]
    assert store.batch_put_from_multi_buffers(keys, ptrs, sizes) == [0] * 4
    dst[:] = 0
    back = [[ptr + n + (i * 4 + j) * frag for j in range(4)] for i in range(4)]
    assert store.batch_get_into_multi_buffers(keys, back, sizes) == [4 * frag] * 4
    assert np.array_equal(src[:16 * frag], dst[:16 * frag])
    assert store.batch_put_from(["flat"], [ptr], [n]) == [0]
    assert store.batch_get_into(["flat", "missing"], [ptr + n, ptr + n], [n, n]) == [n, -704]
    # plain numpy memory works too, through staging
    a = np.arange(1000, dtype=np.float32)
    b = np.empty_like(a)
    assert store.put_from("plain", a.ctypes.data, a.nbytes) == 0
    assert store.get_into("plain", b.ctypes.data, b.nbytes) == a.nbytes
    assert np.array_equal(a, b)
    assert store.unregister_buffer(ptr) == 0


def test_one_store_from_many_threads(store):
    errors = []

    def work(t):
        for i in range(30):
            v = os.urandom(3000 + t)
            if store.put(f"th-{t}-{i}", v) != 0 or store.get(f"th-{t}-{i}") != v:
                errors.append((t, i))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_a_lease_blocks_remove_until_it_ends(store):
    assert store.put("leased", b"x") == 0
    assert store.get("leased") == b"x"  # grants a 1 s lease (the master's --default_kv_lease_ttl)
    assert store.remove("leased") == -706
    assert store.remove("leased", force=True) == 0
    assert store.put("leased2", b"y") == 0 and store.get("leased2") == b"y"
    deadline = time.monotonic() + 10
    while store.remove("leased2") == -706 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert store.is_exist("leased2") == 0


def test_setup_from_a_dict_with_size_strings(trio, env):
    meta, master = trio
    s = MooncakeDistributedStore()
    assert s.setup({"local_hostname": "localhost", "metadata_server": meta,
                    "global_segment_size": "48MB", "local_buffer_size": "1.5MB",
                    "protocol": "tcp", "device_name": "",
                    "master_server_address": master}) == 0
    assert s.put("d", b"dict") == 0 and s.get("d") == b"dict"
    s.close()


def test_setup_dummy_attaches_to_a_running_service(cluster, trio, env):
    meta, master = trio
    svc = cluster.store(None, None, f"--master_server_addr={master}", f"--metadata_server={meta}")
    s = MooncakeDistributedStore()
    assert s.setup_dummy(0, 16 * MiB, svc.ipc_socket) == 0
    assert s.put("dummy", b"attached") == 0 and s.get("dummy") == b"attached"
    s.close()
    assert not embedded_sockets(env), "setup_dummy starts nothing"


def test_setup_against_no_master_fails_in_bounded_time(cluster, env):
    meta = cluster.metadata()
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{probe.getsockname()[1]}"
    s = MooncakeDistributedStore()
    t0 = time.monotonic()
    rc = s.setup("localhost", f"{meta.url}/metadata", 16 * MiB, 1 * MiB, "tcp", "", dead)
    assert rc == -900, rc
    assert time.monotonic() - t0 < 30
    assert embedded_gone(env, timeout=5), "the service started for the failed setup is stopped"


CHILD = r"""
import sys
from mooncake.store import MooncakeDistributedStore
s = MooncakeDistributedStore()
assert s.setup("localhost", sys.argv[1], 16 << 20, 1 << 20, "tcp", "", sys.argv[2]) == 0
assert s.put("from-child", b"x") == 0
print("ready", flush=True)
sys.stdin.readline()
"""


def test_embedded_service_is_gone_after_its_parent_is_killed(trio, env):
    meta, master = trio
    p = subprocess.Popen([sys.executable, "-c", CHILD, meta, master], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        assert len(embedded_sockets(env)) == 1
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
    assert embedded_gone(env), "the embedded service outlived its SIGKILLed parent"


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def two_stores(trio, local_buffer_size=4 * MiB):
    """Two embedded stores of this process on free ports."""
    meta, master = trio
    stores = []
    for port in free_ports(2):
        s = MooncakeDistributedStore()
        assert s.setup(f"127.0.0.1:{port}", meta, 32 * MiB, local_buffer_size, "tcp", "",
                       master) == 0
        stores.append(s)
    return stores


def test_two_stores_in_one_process_replicas_survive_one_closing(trio, env):
    meta, master = trio
    a, b = two_stores(trio)
    pa = int(a.get_hostname().rsplit(":", 1)[1])
    assert a.get_hostname().startswith("127.0.0.1:") and b.get_hostname() != a.get_hostname()
    assert len(embedded_sockets(env)) == 2
    two = ReplicateConfig()
    two.replica_num = 2
    only_a = ReplicateConfig()
    only_a.preferred_segment = a.get_hostname()
    data = os.urandom(MiB)
    assert a.put("both", data, config=two) == 0
    assert a.put("only-a", b"lives on a", config=only_a) == 0
    assert b.get("only-a") == b"lives on a"
    a.close()
    assert b.get("both") == data, "the replica on b still serves"
    deadline = time.monotonic() + 10
    while b.get("only-a") != b"" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert b.get("only-a") == b"", "the only replica went with the closed store"
    again = MooncakeDistributedStore()
    assert again.setup(f"127.0.0.1:{pa}", meta, 32 * MiB, 4 * MiB, "tcp", "", master) == 0
    assert again.get("only-a") == b"" and again.get("both") == data
    again.close()
    b.close()


def test_get_into_ranges_as_mooncake_documents_it(store):
    assert store.put("key1", bytes(range(40))) == 0
    assert store.put("key2", bytes(range(100, 120))) == 0
    b0 = (ctypes.c_ubyte * 32)()
    b1 = (ctypes.c_ubyte * 32)()
    p0, p1 = ctypes.addressof(b0), ctypes.addressof(b1)
    res = store.get_into_ranges(
        [p0, p1],
        [["key1", "key2"], ["key2", "key1"]],
        [[[0, 20], [8]], [[4], [16]]],
        [[[1, 30], [2]], [[0], [10]]],
        [[[4, 3], [5]], [[6], [4]]])
    assert res == [[[4, 3], [5]], [[6], [4]]]
    assert bytes(b0[0:4]) == bytes(range(1, 5)) and bytes(b0[20:23]) == bytes(range(30, 33))
    assert bytes(b0[8:13]) == bytes(range(102, 107))
    assert bytes(b1[4:10]) == bytes(range(100, 106)) and bytes(b1[16:20]) == bytes(range(10, 14))
    bad = store.get_into_ranges([p0], [["key1", "nope"]], [[[0], [0]]], [[[38], [0]]],
                                [[[4], [1]]])
    assert bad == [[[-600], [-704]]], "past the end / missing"


def test_get_buffer_is_zero_copy_and_survives_an_eviction_storm(trio, env):
    np = pytest.importorskip("numpy")
    meta, master = trio
    s = MooncakeDistributedStore()
    assert s.setup("localhost", meta, 16 * MiB, 4 * MiB, "tcp", "", master) == 0
    try:
        vals = {f"old-{i}": os.urandom(MiB) for i in range(8)}
        for k, v in vals.items():
            assert s.put(k, v) == 0
        h0, h1 = s.get_buffer("old-0"), s.get_buffer("old-1")
        assert h0.is_view() and h1.is_view(), "local values come as views, not copies"
        arr = np.frombuffer(h0, dtype=np.uint8)  # no copy: the segment's bytes
        assert arr.tobytes() == vals["old-0"] and not arr.flags.writeable
        with pytest.raises(BufferError):
            h0.release()  # a numpy view of it is alive
        # far more than the 16 MiB segment holds: eviction runs, views hold;
        # first past --min_residency_ms (100), before which nothing is evicted
        # (the 40 puts alone take about that long: the test raced it)
        time.sleep(0.2)
        for i in range(40):
            assert s.put(f"new-{i}", os.urandom(MiB)) in (0, -200)
        assert arr.tobytes() == vals["old-0"], "a held view's bytes were not reused"
        assert bytes(memoryview(h1)) == vals["old-1"]
        assert s.is_exist("old-0") == 1 and s.is_exist("old-1") == 1
        assert sum(s.is_exist(f"old-{i}") == 0 for i in range(2, 8)) > 0, "others were evicted"
        del arr
        h0.release()
        with pytest.raises(RuntimeError):
            h0.size()
        with h1:
            assert len(h1) == MiB
        assert s.get_buffer("never-put") is None
    finally:
        s.close()


def test_replica_desc_and_replica_clear(trio, env):
    a, b = two_stores(trio)
    try:
        two = ReplicateConfig()
        two.replica_num = 2
        data = os.urandom(MiB)
        assert a.put("both", data, config=two) == 0
        reps = a.get_replica_desc("both")
        assert len(reps) == 2 and all(r.is_memory_replica() for r in reps)
        assert not any(r.is_disk_replica() or r.is_local_disk_replica() for r in reps)
        assert {r.segment_name for r in reps} == {a.get_hostname(), b.get_hostname()}
        assert all(r.size == MiB for r in reps)
        assert reps[0].get_memory_descriptor().buffer_descriptor.size_ == MiB
        assert a.get_replica_desc("missing") == []
        assert a.batch_get_replica_desc(["both", "missing"]).keys() == {"both"}
        # the listing leases the object (as Mooncake's does): no clear until it ends
        assert a.batch_replica_clear(["both"], segment_name=b.get_hostname()) == []
        time.sleep(1.2)
        assert b.batch_replica_clear(["both"]) == [], "only the store that put it clears it"
        assert a.batch_replica_clear(["both", "missing"], segment_name=b.get_hostname()) == \
            ["both"]
        reps = a.get_replica_desc("both")
        assert [r.segment_name for r in reps] == [a.get_hostname()]
        assert b.get("both") == data, "read from the replica left on a"
        time.sleep(1.2)
        assert a.batch_replica_clear(["both"], segment_name="") == ["both"]
        assert a.get("both") == b"" and a.is_exist("both") == 0
        with pytest.raises(TypeError):
            a.batch_replica_clear(["both"], segment_name=3)
    finally:
        a.close()
        b.close()


def test_host_memory_is_shared_with_every_store(trio, env):
    from mooncake.store import MooncakeHostMemAllocator
    a, b = two_stores(trio, local_buffer_size=0)
    alloc = MooncakeHostMemAllocator()
    n = 2 * MiB
    ptr = alloc.alloc(n)
    try:
        assert ptr
        data = os.urandom(n)
        ctypes.memmove(ptr, data, n)
        # no staging area on either: only shared memory can move, so these
        # succeed only if both stores use the allocation directly
        assert a.put_from("host", ptr, n) == 0
        ctypes.memset(ptr, 0, n)
        assert b.get_into("host", ptr, n) == n
        assert ctypes.string_at(ptr, n) == data
        assert a.put_from("plain", ctypes.addressof((ctypes.c_char * 16)()), 16) < 0
    finally:
        assert alloc.free(ptr) == 0
        assert alloc.free(ptr) == -600
        a.close()
        b.close()
    ptr2 = alloc.alloc(4096)
    assert ptr2 and alloc.free(ptr2) == 0


def test_mc_store_memcpy_is_validated(trio, env, monkeypatch):
    meta, master = trio
    monkeypatch.setenv("MC_STORE_MEMCPY", "true")
    s = MooncakeDistributedStore()
    assert s.setup("localhost", meta, 32 * MiB, 4 * MiB, "tcp", "", master) == 0
    s.close()
    monkeypatch.setenv("MC_STORE_MEMCPY", "sometimes")
    with pytest.raises(ValueError, match="MC_STORE_MEMCPY"):
        MooncakeDistributedStore().setup("localhost", meta, 32 * MiB, 4 * MiB, "tcp", "", master)


@pytest.mark.parametrize("renew_ms", [300, 0])
def test_an_open_view_stays_held_past_the_hold_ttl(cluster, env, renew_ms):
    meta = cluster.metadata()
    master = cluster.master("--default_kv_lease_ttl=200", "--hold_ttl_ms=1000")
    svc = cluster.store(master, meta, f"--ipc_view_renew_ms={renew_ms}")
    s = MooncakeDistributedStore()
    assert s.setup_dummy(0, 4 * MiB, svc.ipc_socket) == 0
    try:
        assert s.put("view", b"v" * 4096) == 0
        h = s.get_buffer("view")
        assert h.is_view()
        time.sleep(2.2)  # two hold TTLs; the read lease is long over
        rc = s.remove("view")
        if renew_ms:
            assert rc == -706, "the renewed hold still protects the open view"
            assert bytes(memoryview(h)) == b"v" * 4096
            h.release()
            deadline = time.monotonic() + 2  # the renewal's own read lease (200 ms) ends
            while s.remove("view") != 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert s.is_exist("view") == 0, "released: removable once its lease ends"
            metrics = urllib.request.urlopen(svc.url + "/metrics", timeout=5).read().decode()
            assert re.search(r'^mc_store_ipc_view_renewals_total [1-9]', metrics, re.M)
            assert re.search(r'^mc_store_ipc_request_seconds_count\{op="get_buffer"\} 1$',
                             metrics, re.M), "per-opcode latency"
        else:
            assert rc == 0, "without renewal the hold ran out with its TTL"
    finally:
        s.close()


def test_setup_with_ssd_offload_gives_the_service_a_tier(cluster, env, tmp_path, monkeypatch):
    meta = cluster.metadata()
    master = cluster.master("--enable_offload", "--default_kv_lease_ttl=200")
    ssd = tmp_path / "ssd"
    ssd.mkdir()
    monkeypatch.setenv("MC_SSD_CAPACITY", "64MB")  # the default needs 1 GiB free
    s = MooncakeDistributedStore()
    assert s.setup("localhost", f"{meta.url}/metadata", 32 * MiB, 4 * MiB, "tcp", "",
                   f"127.0.0.1:{master.port}", enable_ssd_offload=True,
                   ssd_offload_path=str(ssd)) == 0
    assert s.put("offloaded", b"x" * 5000) == 0

    def on_disk():
        res = request("POST", f"{master.url}/api/v1/get_replica_list",
                      body={"keys": ["offloaded"]}).json()["results"][0]
        return any(str(x.get("type", "")).lower() == "disk" for x in res.get("replicas", []))

    deadline = time.monotonic() + 20
    while not on_disk() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert on_disk(), "the embedded service did not persist the put to its SSD tier"
    assert any(p.name == "identity" for p in ssd.rglob("*"))

    def in_memory():
        res = request("POST", f"{master.url}/api/v1/get_replica_list",
                      body={"keys": ["offloaded"]}).json()["results"][0]
        return any(str(x.get("type", "")).lower() == "memory" for x in res.get("replicas", []))

    # evicted from memory (48 MiB of fillers through a 32 MiB segment, once
    # the read lease of the looks above, 200 ms, is over), the local client's
    # get reads it from the service's disk tier
    time.sleep(0.3)
    for i in range(48):
        s.put(f"filler{i}", b"f" * MiB)
    assert not in_memory()
    assert s.get("offloaded") == b"x" * 5000
    s.close()
