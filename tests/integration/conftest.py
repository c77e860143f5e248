"""Integration harness: real binaries on free loopback ports.

Every process is started through `Cluster.start`, waits on its /health
readiness probe (never a fixed sleep), and is torn down by the fixture even
when the test fails. Binaries come from $MC_BIN_DIR (scripts/test.sh sets it).

MC_TEST_AUTH=1 runs everything with credentials on: a cluster and an admin
token file (mode 0400) are written once per session and named in
MOONCAKE_AUTH_TOKEN_FILE / MOONCAKE_ADMIN_TOKEN_FILE, so every binary the
tests start (also the store services libmooncake_client starts) requires and
sends them, and `request` sends the admin token (it admits every call)
unless told otherwise (auth=False, or an Authorization header of its own).
"""
import base64
import glob
import tempfile
import http.client
import json
import os
import signal
import socket
import subprocess
import time
import urllib.parse

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN_DIR = os.environ.get("MC_BIN_DIR", os.path.join(ROOT, "build", "bin"))

MASTER = "mooncake_master"
METADATA = "mooncake_http_metadata_server"
STORE = "mooncake_store_service"


TEST_AUTH = os.environ.get("MC_TEST_AUTH") == "1"
AUTH_TOKEN = ADMIN_TOKEN = None


def write_token_file(path, *tokens, mode=0o400):
    """Writes tokens (one per line) to path atomically with mode; returns path."""
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("".join(t + "\n" for t in tokens))
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    return path


def new_token():
    return base64.b64encode(os.urandom(32)).decode()


if TEST_AUTH:
    _auth_dir = tempfile.mkdtemp(prefix="mc-it-auth-")
    AUTH_TOKEN, ADMIN_TOKEN = new_token(), new_token()
    os.environ["MOONCAKE_AUTH_TOKEN_FILE"] = write_token_file(
        os.path.join(_auth_dir, "cluster.token"), AUTH_TOKEN)
    os.environ["MOONCAKE_ADMIN_TOKEN_FILE"] = write_token_file(
        os.path.join(_auth_dir, "admin.token"), ADMIN_TOKEN)


def auth_headers(token=None):
    """The Authorization header of token (default: the session's admin token
    under MC_TEST_AUTH=1, none otherwise)."""
    token = token or ADMIN_TOKEN
    return {"Authorization": f"Bearer {token}"} if token else {}


def auth_header_lines():
    """The same header as raw request text ("Name: value\\r\\n"), for tests
    that write requests on a socket themselves; "" when auth is off."""
    return "".join(f"{k}: {v}\r\n" for k, v in auth_headers().items())


# Tests that write requests without the token (raw sockets, or a helper
# binary with no token option): under MC_TEST_AUTH=1 they are answered 401
# before what they check (a body cap, a transfer), so they are skipped there,
# with the reason. Sending auth_header_lines() / a token lifts the skip.
NO_TOKEN_TESTS = {
    "test_metadata.py::test_body_at_and_over_default_cap": "raw socket",
    "test_metadata.py::test_chunked_body_over_cap_is_413": "raw http.client",
    "test_metadata.py::test_concurrent_put_get_many_keys": "raw http.client",
    "test_store.py::test_rest_bad_keys_bodies_methods": "raw socket (declared_put_status)",
    "test_transfer.py::test_two_processes_via_metadata_server": "mc_transfer_bench has no token",
    "test_transfer.py::test_republish_after_metadata_loss": "mc_transfer_bench has no token",
}


def pytest_collection_modifyitems(config, items):
    if not TEST_AUTH:
        return
    for item in items:
        name = f"{os.path.basename(item.location[0])}::{item.name.split('[')[0]}"
        if name in NO_TOKEN_TESTS:
            item.add_marker(pytest.mark.skip(
                reason=f"MC_TEST_AUTH=1: sends no token ({NO_TOKEN_TESTS[name]})"))


def binary(name):
    path = os.path.join(BIN_DIR, name)
    if not os.path.exists(path):
        pytest.fail(f"{path} not built (set MC_BIN_DIR or run make build)")
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")


def request(method, url, body=None, headers=None, timeout=10, auth=True):
    """One HTTP request; returns Response (never raises on HTTP status).
    Under MC_TEST_AUTH=1 it sends the admin token unless auth is False or
    headers carry an Authorization of their own."""
    u = urllib.parse.urlsplit(url)
    if auth and TEST_AUTH and not any(k.lower() == "authorization" for k in (headers or {})):
        headers = dict(headers or {}, **auth_headers())
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        path = u.path + ("?" + u.query if u.query else "")
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers = dict(headers or {}, **{"Content-Type": "application/json"})
        elif isinstance(body, str):
            body = body.encode()
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return Response(r.status, dict(r.getheaders()), r.read())
    finally:
        conn.close()


class Proc:
    def __init__(self, name, args, log_path, health_url):
        self.name = name
        self.args = args
        self.log_path = log_path
        self.health_url = health_url
        self.p = None

    def start(self, timeout=15):
        self.log = open(self.log_path, "ab")
        self.p = subprocess.Popen([binary(self.name)] + self.args, stdout=self.log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.p.returncode}: {self.output()}")
            try:
                if request("GET", self.health_url, timeout=1).status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"{self.name} not healthy after {timeout}s: {self.output()}")

    def output(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-4000:]
        except OSError:
            return ""

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Stops the process; returns its exit code."""
        if self.p is None:
            return None
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()
        return self.p.returncode

    def kill(self):
        return self.stop(signal.SIGKILL)


class Cluster:
    """Starts services on free ports; everything started is stopped at teardown."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.procs = []

    def _start(self, name, args, health_url):
        log = os.path.join(self.tmp, f"{name}-{len(self.procs)}.log")
        proc = Proc(name, args, log, health_url)
        self.procs.append(proc)
        return proc.start()

    def metadata(self, *extra):
        port = free_port()
        proc = self._start(METADATA, [f"--port={port}", *extra], f"http://127.0.0.1:{port}/health")
        proc.url = f"http://127.0.0.1:{port}"
        proc.port = port
        return proc

    def master(self, *extra):
        port, mport = free_port(), free_port()
        proc = self._start(MASTER, [f"--rpc_port={port}", f"--metrics_port={mport}", *extra],
                           f"http://127.0.0.1:{port}/health")
        proc.url = f"http://127.0.0.1:{port}"
        proc.metrics_url = f"http://127.0.0.1:{mport}"
        proc.port = port
        return proc

    def store(self, master=None, metadata=None, *extra):
        rest, data = free_port(), free_port()
        args = [f"--rest_port={rest}", f"--local_hostname=127.0.0.1:{data}",
                "--global_segment_size=32MB"]
        if not any(str(e).startswith("--ipc_socket") for e in extra):
            # each its own local-client socket (two services never share one);
            # short, since a Unix socket path holds at most 107 bytes
            args.append(f"--ipc_socket=/tmp/mc-it-{os.getpid()}-{rest}.sock")
        if master is not None:
            args.append(f"--master_server_addr=127.0.0.1:{master.port}")
        if metadata is not None:
            args.append(f"--metadata_server={metadata.url}/metadata")
        proc = self._start(STORE, args + list(extra), f"http://127.0.0.1:{rest}/health")
        proc.url = f"http://127.0.0.1:{rest}"
        proc.port = rest
        proc.ipc_socket = next((a.split("=", 1)[1] for a in args + list(extra)
                                if str(a).startswith("--ipc_socket=")), None)
        return proc

    def teardown(self):
        """Stops everything; returns the processes that did not exit cleanly
        (a non-zero status after SIGTERM means a crash, a leak or UB report)."""
        unclean = []
        for proc in reversed(self.procs):
            was_running = proc.alive()
            rc = proc.stop()
            if was_running and rc != 0:
                unclean.append(f"{proc.name} exited {rc}:\n{proc.output()}")
            sock = getattr(proc, "ipc_socket", None)
            if sock and os.path.exists(sock):  # left by a killed service
                os.unlink(sock)
        return unclean


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(str(tmp_path))
    yield c
    unclean = c.teardown()
    if unclean:
        pytest.fail("unclean shutdown: " + "\n".join(unclean), pytrace=False)


# ---- local-client sockets (test_ipc, test_embedded, test_python) ----

def embedded_sockets(runtime_dir):
    """The sockets of embedded store services started under runtime_dir."""
    return glob.glob(os.path.join(runtime_dir, "mooncake", "embedded-*.sock"))


def unix_answers(path):
    """True when something accepts connections on the Unix socket path."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def embedded_gone(runtime_dir, timeout=15):
    """Polls until no embedded service under runtime_dir answers (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(unix_answers(p) for p in embedded_sockets(runtime_dir)):
            return True
        time.sleep(0.05)
    return False


# Memory and throughput bounds of the real binaries do not hold under
# ThreadSanitizer (shadow memory, 5-15x slower): such tests run in the
# default (ASan+UBSan) suite and are skipped, counted, under `make tsan`.
not_under_tsan = pytest.mark.skipif(
    os.environ.get("MC_SANITIZE") == "thread",
    reason="memory/throughput bounds do not hold under ThreadSanitizer (checked by make test)")
