"""Every service binary: readiness, shutdown, flags, config files, docs."""
import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import (MASTER, METADATA, ROOT, STORE, binary, free_port, request)

SERVICES = [MASTER, METADATA, STORE]
DOCS = {MASTER: "docs/master.md", METADATA: "docs/metadata.md", STORE: "docs/store-service.md"}
# a numeric flag of each service, to feed bad values
PORT_FLAG = {MASTER: "rpc_port", METADATA: "port", STORE: "rest_port"}


def run(name, *args, env=None, timeout=10):
    e = dict(os.environ)
    e.pop("MOONCAKE_CONFIG_PATH", None)
    e.update(env or {})
    return subprocess.run([binary(name), *args], capture_output=True, text=True,
                          timeout=timeout, env=e)


def start(cluster, name, *extra):
    if name == MASTER:
        return cluster.master(*extra)
    if name == METADATA:
        return cluster.metadata(*extra)
    # the store is healthy only once its segment is mounted with a master
    return cluster.store(cluster.master(), cluster.metadata(), *extra)


@pytest.mark.parametrize("name", SERVICES)
def test_health_and_metrics(cluster, name):
    proc = start(cluster, name)
    r = request("GET", proc.url + "/health")
    assert r.status == 200
    assert r.json()["status"] == "ok"
    assert r.headers["Content-Type"] == "application/json"
    r = request("GET", proc.url + "/metrics")
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    assert re.search(r'^mc_http_requests_total\{method="GET",route="/health",status="200"\} [1-9]',
                     r.text, re.M), r.text


@pytest.mark.parametrize("name", SERVICES)
def test_unknown_route_and_method_are_json_errors(cluster, name):
    proc = start(cluster, name)
    r = request("GET", proc.url + "/no/such/route")
    assert r.status == 404
    assert set(r.json()) == {"error", "code"}
    r = request("DELETE", proc.url + "/health")
    assert r.status == 405
    assert r.json()["code"] == -600
    assert request("GET", proc.url + "/health").status == 200  # still serving


def test_master_admin_port(cluster):
    m = cluster.master()
    assert request("GET", m.metrics_url + "/health").status == 200
    assert request("GET", m.metrics_url + "/metrics").status == 200


@pytest.mark.parametrize("name", SERVICES)
def test_sigterm_and_sigint_stop_cleanly(cluster, name):
    proc = start(cluster, name)
    assert proc.stop(signal.SIGINT) == 0
    proc = start(cluster, name)
    assert proc.stop(signal.SIGTERM) == 0


@pytest.mark.parametrize("name", SERVICES)
def test_help_lists_every_flag(name):
    r = run(name, "--help")
    assert r.returncode == 0
    assert r.stdout.startswith(f"Usage: {name}")
    md = run(name, "--help_markdown").stdout
    flags = re.findall(r"^\| `--(\w+)`", md, re.M)
    assert len(flags) >= 4
    for flag in flags:
        assert f"--{flag}" in r.stdout


@pytest.mark.parametrize("name", SERVICES)
def test_docs_flag_table_matches_binary(name):
    """docs/<service>.md carries the exact --help_markdown table (make docs regenerates it)."""
    path = os.path.join(ROOT, DOCS[name])
    with open(path) as f:
        text = f.read()
    m = re.search(r"<!-- flags:begin -->\n(.*?)<!-- flags:end -->", text, re.S)
    assert m, f"{DOCS[name]} has no flags block"
    assert m.group(1) == run(name, "--help_markdown").stdout, \
        f"{DOCS[name]} is stale: run `make docs`"


@pytest.mark.parametrize("name", SERVICES)
@pytest.mark.parametrize("args,needle", [
    (["--{port}=abc"], "option --{port}: 'abc'"),
    (["--{port}=70000"], "option --{port}: '70000' out of range"),
    (["--no_such_flag=1"], "unknown option --no_such_flag"),
    (["--{port}"], "option --{port}: missing value"),
    (["positional"], "unexpected argument 'positional'"),
    (["--log_level=loud"], "option --log_level: 'loud' is not one of"),
])
def test_bad_flag_is_one_line_error(name, args, needle):
    port = PORT_FLAG[name]
    r = run(name, *[a.format(port=port) for a in args])
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert needle.format(port=port) in lines[0]
    assert lines[0].startswith(name + ":")


@pytest.mark.parametrize("name", SERVICES)
@pytest.mark.parametrize("content,needle", [
    ('{"log_level": ', "malformed JSON"),
    ('["log_level"]', "not a JSON object"),
    ('{"log_level": 7}', "option 'log_level': expected a string"),
    ('{"{port}": "high"}', "option '{port}': 'high'"),
    ('{"{port}": 1e9}', "option '{port}'"),
])
def test_bad_config_file_is_one_line_error(tmp_path, name, content, needle):
    port = PORT_FLAG[name]
    path = tmp_path / "cfg.json"
    path.write_text(content.replace("{port}", port))
    for how in ("flag", "env"):
        if how == "flag":
            r = run(name, f"--config={path}")
        else:
            r = run(name, env={"MOONCAKE_CONFIG_PATH": str(path)})
        assert r.returncode == 2, (how, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, r.stderr
        assert needle.replace("{port}", port) in lines[0]
        assert str(path) in lines[0]


def test_missing_config_file(tmp_path):
    r = run(METADATA, f"--config={tmp_path}/nope.json")
    assert r.returncode == 2
    assert "No such file or directory" in r.stderr


def test_config_file_and_env_apply(cluster, tmp_path):
    """Mooncake's spellings: MOONCAKE_CONFIG_PATH JSON with sizes as strings, env aliases."""
    master, metadata = cluster.master(), cluster.metadata()
    rest = free_port()
    path = tmp_path / "mooncake.json"
    path.write_text(json.dumps({"rest_port": rest, "global_segment_size": "1.5MB",
                                "protocol": "tcp", "some_client_only_key": 1,
                                "metadata_server": metadata.url + "/metadata"}))
    env = {"MOONCAKE_CONFIG_PATH": str(path), "MOONCAKE_LOCAL_BUFFER_SIZE": "32mb",
           "MOONCAKE_MASTER": f"127.0.0.1:{master.port}",
           "MOONCAKE_LOCAL_HOSTNAME": f"127.0.0.1:{free_port()}"}
    p = subprocess.Popen([binary(STORE)], env=dict(os.environ, **env),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if request("GET", f"http://127.0.0.1:{rest}/health", timeout=1).status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.02)
        else:
            pytest.fail("store did not come up on the port from the config file")
        # the segment size came from the file, the master address from the env
        assert request("GET", master.url + "/get_all_segments").text.strip() == \
            env["MOONCAKE_LOCAL_HOSTNAME"]
        metrics = request("GET", master.url + "/metrics").text
        assert re.search(r"^mc_master_capacity_bytes 1572864$", metrics, re.M), metrics
    finally:
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=10)
    assert p.returncode == 0, out
    assert f"read config file {path}" in out
    assert "some_client_only_key" in out  # ignored keys are reported, not fatal


def test_port_in_use_is_clear_error(cluster):
    md = cluster.metadata()
    r = run(METADATA, f"--port={md.port}")
    assert r.returncode == 1
    assert "Address already in use" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_make_run_script_starts_trio_and_stops_on_ctrl_c(tmp_path):
    """scripts/run.sh (what `make run` runs) on free ports: up, healthy, Ctrl-C, nothing left."""
    ports = {k: free_port() for k in ("MASTER_PORT", "MASTER_METRICS_PORT", "METADATA_PORT",
                                       "STORE_REST_PORT", "STORE_DATA_PORT")}
    env = dict(os.environ, BIN_DIR=os.path.dirname(binary(MASTER)), RUN_DIR=str(tmp_path),
               SEGMENT_SIZE="32MB", **{k: str(v) for k, v in ports.items()})
    env.pop("MOONCAKE_CONFIG_PATH", None)
    p = subprocess.Popen(["bash", os.path.join(ROOT, "scripts", "run.sh")], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
    out = []
    try:
        deadline = time.monotonic() + 30
        for line in p.stdout:
            out.append(line)
            if "Ctrl-C stops all three" in line or time.monotonic() > deadline:
                break
        text = "".join(out)
        assert "mooncake is up" in text, text
        for key in ("MASTER_PORT", "METADATA_PORT", "STORE_REST_PORT", "MASTER_METRICS_PORT"):
            assert request("GET", f"http://127.0.0.1:{ports[key]}/health").status == 200
            assert str(ports[key]) in text
        pids = [int((tmp_path / f"{n}.pid").read_text()) for n in ("master", "metadata", "store")]
        os.killpg(p.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        rest, _ = p.communicate(timeout=20)
        assert p.returncode == 0, rest
        assert "stopped" in rest
        for pid in pids:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
        for n in ("master", "metadata", "store"):
            assert (tmp_path / f"{n}.log").exists()
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
