"""The embedded default of libmooncake_client (mooncake_store_setup /
mooncake_client_setup) with the real binaries: a setup with no store service
starts one, a second process attaches to it (and is told it is ephemeral),
the service goes away with its starter (also when the setup ran on a thread
that has ended) or with the starter's last handle, and concurrent setups
start one service. Processes are driven through ctypes."""
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from conftest import embedded_gone, embedded_sockets, request, unix_answers

SCRIPT = r"""
import ctypes, sys, threading
L = ctypes.CDLL(sys.argv[1])
mode, meta, master = sys.argv[2], sys.argv[3], sys.argv[4]
L.mooncake_store_create.restype = ctypes.c_void_p
L.mooncake_store_setup.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p,
    ctypes.c_uint64, ctypes.c_uint64, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p]
L.mooncake_store_put.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p,
                                 ctypes.c_size_t, ctypes.c_void_p]
L.mooncake_store_get_into.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p,
                                      ctypes.c_size_t]
L.mooncake_store_get_into.restype = ctypes.c_int64
L.mooncake_store_destroy.argtypes = [ctypes.c_void_p]
store = L.mooncake_store_create()
rc = []
def setup():
    rc.append(L.mooncake_store_setup(store, b"127.0.0.1", meta.encode(), 32 << 20, 1 << 20,
                                     b"tcp", b"", master.encode()))
if mode == "thread":
    t = threading.Thread(target=setup)
    t.start()
    t.join()           # the thread that started the service is gone
else:
    setup()
assert rc == [0], rc
if mode in ("start", "thread"):
    assert L.mooncake_store_put(store, b"hello_key", b"Hello, Mooncake Store!", 22, None) == 0
    print("ready", flush=True)
    sys.stdin.readline()   # exits without destroy: the process going away stops the service
elif mode == "attach":
    buf = ctypes.create_string_buffer(64)
    n = L.mooncake_store_get_into(store, b"hello_key", buf, 64)
    print("got %s" % (buf.raw[:n].decode() if n > 0 else n), flush=True)
    L.mooncake_store_destroy(store)
elif mode == "fork":
    import os
    assert L.mooncake_store_put(store, b"k", b"v", 1, None) == 0
    pid = os.fork()
    if pid == 0:  # the child closes its inherited copy of the handle, then exits
        L.mooncake_store_destroy(store)
        os._exit(0)
    os.waitpid(pid, 0)
    buf = ctypes.create_string_buffer(4)
    print("after-fork %d" % L.mooncake_store_get_into(store, b"k", buf, 4), flush=True)
    sys.stdin.readline()
elif mode == "close":
    L.mooncake_store_destroy(store)   # the last handle: the service stops now
    print("closed", flush=True)
    sys.stdin.readline()
"""

NATIVE = r"""
import ctypes, sys
L = ctypes.CDLL(sys.argv[1])
class Setup(ctypes.Structure):
    _fields_ = [("local_hostname", ctypes.c_char_p), ("metadata_server", ctypes.c_char_p),
                ("global_segment_size", ctypes.c_uint64), ("local_buffer_size", ctypes.c_uint64),
                ("protocol", ctypes.c_char_p), ("device_name", ctypes.c_char_p),
                ("master_server_addr", ctypes.c_char_p)]
s = Setup(b"127.0.0.1", sys.argv[2].encode(), 32 << 20, 0, b"tcp", b"", sys.argv[3].encode())
h = ctypes.c_void_p()
assert L.mooncake_client_setup(ctypes.byref(s), ctypes.byref(h)) == 0
L.mooncake_client_service_ephemeral.argtypes = [ctypes.c_void_p]
print("ephemeral", L.mooncake_client_service_ephemeral(h), flush=True)
L.mooncake_client_close.argtypes = [ctypes.c_void_p]
L.mooncake_client_close(h)
"""


def lib_path():
    """libmooncake_client: an unsanitized build's (a sanitizer runtime cannot
    be loaded into python), MC_CLIENT_LIB_DIR, else MC_BUILD_DIR's."""
    d = os.environ.get("MC_CLIENT_LIB_DIR") or \
        os.path.join(os.environ.get("MC_BUILD_DIR", "build/dev"), "lib")
    return os.path.join(d, "libmooncake_client.so")


@pytest.fixture
def env():
    runtime = tempfile.mkdtemp(prefix="mc-emb-", dir="/tmp")
    bin_dir = os.environ.get("MC_BIN_DIR", "build/dev/bin")
    e = dict(os.environ, XDG_RUNTIME_DIR=runtime,
             MOONCAKE_STORE_SERVICE_BIN=os.path.abspath(os.path.join(bin_dir,
                                                                     "mooncake_store_service")))
    e.pop("MOONCAKE_IPC_SOCKET", None)
    yield e
    shutil.rmtree(runtime, ignore_errors=True)


@pytest.fixture
def trio(cluster):
    meta = cluster.metadata()
    master = cluster.master()
    return f"{meta.url}/metadata", f"127.0.0.1:{master.port}", master


def run(env, mode, meta, master, script=SCRIPT):
    return subprocess.Popen([sys.executable, "-c", script, lib_path(), mode, meta, master],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)


def sockets(env):
    return embedded_sockets(env["XDG_RUNTIME_DIR"])


answers = unix_answers


def segments(master):
    r = request("GET", f"{master.url}/get_all_segments")
    assert r.status == 200, r.body
    return r.body.decode()


def wait_gone(env, timeout=15):
    return embedded_gone(env["XDG_RUNTIME_DIR"], timeout)


def finish(p, send="\n"):
    out, _ = p.communicate(send, timeout=30)
    return out


@pytest.mark.parametrize("mode", ["start", "thread"])
def test_setup_starts_a_service_others_attach_and_it_ends_with_its_starter(env, trio, mode):
    meta, master, _ = trio
    starter = run(env, mode, meta, master)
    try:
        assert starter.stdout.readline().strip() == "ready"
        assert len(sockets(env)) == 1 and answers(sockets(env)[0])
        other = run(env, "attach", meta, master)
        assert finish(other, "").strip() == "got Hello, Mooncake Store!"
        told = subprocess.run([sys.executable, "-c", NATIVE, lib_path(), meta, master],
                              env=env, capture_output=True, text=True, timeout=30)
        assert told.stdout.strip() == "ephemeral 1", told.stderr
        assert answers(sockets(env)[0]), "a process that attached and left stops nothing"
    finally:
        finish(starter)
    assert starter.returncode == 0
    assert wait_gone(env), "the service outlived its starter"


def test_the_starters_last_handle_stops_it(env, trio):
    meta, master, _ = trio
    p = run(env, "close", meta, master)
    try:
        assert p.stdout.readline().strip() == "closed"
        assert wait_gone(env), "still answering after the last handle closed"
    finally:
        finish(p)


def test_concurrent_setups_start_one_service(env, trio):
    meta, master, master_proc = trio
    ps = [run(env, "start", meta, master) for _ in range(3)]
    try:
        for p in ps:
            assert p.stdout.readline().strip() == "ready"
        assert len(sockets(env)) == 1
        assert segments(master_proc).count("127.0.0.1:") == 1, segments(master_proc)
    finally:
        for p in ps:
            finish(p)


def test_a_forked_child_closing_its_copy_stops_nothing(env, trio):
    meta, master, _ = trio
    p = run(env, "fork", meta, master)
    try:
        assert p.stdout.readline().strip() == "after-fork 1"
        assert len(sockets(env)) == 1 and answers(sockets(env)[0])
    finally:
        finish(p)
    assert wait_gone(env)
