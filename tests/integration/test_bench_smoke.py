"""`make bench` as a smoke test: bench/run.py with BENCH_QUICK=1 and tiny
cells (BENCH_SECONDS=0.01, one run each) over the binaries of $MC_BIN_DIR,
then: every row of the table is there (bench.run.expected_keys), none
failed, the Markdown and the JSON agree, the machine is described, and
every process the run started is gone. No timing is asserted: the numbers
of such short cells mean nothing."""
import glob
import json
import os
import subprocess
import sys

import pytest

from conftest import BIN_DIR, ROOT

sys.path.insert(0, os.path.join(ROOT, "bench"))
import run as bench  # noqa: E402


def has_mooncake(py):
    return subprocess.run([py, "-c", "import mooncake.store"],
                          capture_output=True).returncode == 0


def processes_with(marker):
    """Pids whose environment holds marker (everything the run started inherits it)."""
    out = []
    for env in glob.glob("/proc/[0-9]*/environ"):
        try:
            with open(env, "rb") as f:
                if marker.encode() in f.read():
                    out.append(int(env.split("/")[2]))
        except OSError:
            continue
    return out


@pytest.mark.skipif(os.environ.get("MC_SANITIZE") == "thread",
                    reason="some 300 cells under ThreadSanitizer's slowdown take minutes and "
                           "check nothing make test does not (it runs this test)")
def test_quick_bench_has_every_row(tmp_path):
    for tool in ("mc_client_bench", "mc_limits_bench", "mc_peer_bench", "mc_transfer_bench"):
        if not os.access(os.path.join(BIN_DIR, tool), os.X_OK):
            pytest.skip(f"{tool} not built in {BIN_DIR}")
    env = dict(os.environ, MC_BIN_DIR=BIN_DIR, BENCH_QUICK="1", BENCH_SECONDS="0.01",
               BENCH_RUNS="1", BENCH_OUT=str(tmp_path),
               MC_BENCH_SMOKE_MARK=f"smoke-{os.getpid()}-{id(tmp_path)}")
    for k in ("MOONCAKE_AUTH_TOKEN_FILE", "MOONCAKE_ADMIN_TOKEN_FILE"):  # MC_TEST_AUTH
        env.pop(k, None)  # the bench sets up its own credentials (store c)
    py = sys.executable if has_mooncake(sys.executable) else None
    if py:
        env["MC_PYTHON"] = py
    p = subprocess.Popen(["/usr/bin/python3", os.path.join(ROOT, "bench", "run.py")],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=900)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err[-3000:]
    assert processes_with(env["MC_BENCH_SMOKE_MARK"]) == []  # it stopped all it started
    mds = glob.glob(str(tmp_path / "*-quick.md"))
    assert len(mds) == 1, os.listdir(tmp_path)
    with open(mds[0][:-3] + ".json") as f:
        doc = json.load(f)
    with open(mds[0]) as f:
        md = f.read()
    assert doc["incomplete"] is None
    m = doc["machine"]
    assert m["cpu"] and m["cores"] >= 1 and m["memory_mib"] > 0
    assert doc["load_start"] and doc["load_end"]
    assert "Machine: " in md and os.uname().nodename not in md

    rows = {r["key"]: r for r in doc["rows"]}
    keys = bench.expected_keys(have_python=py is not None)
    missing = [k for k in keys if k != "ssd/*" and k not in rows]
    assert missing == [], f"rows missing from the table: {missing}"
    assert any(k.startswith("ssd/") for k in rows)
    failed = [(k, r["cell"]["error"]) for k, r in rows.items()
              if r["cell"] and "error" in r["cell"]]
    assert failed == [], f"cells that failed: {failed}"
    for k, r in rows.items():
        assert (r["cell"] and "median" in r["cell"]) or r["value"], k
        assert f"| {r['name']} |" in md, k
    # the peers' rows were measured, not "n/a", when the packages are installed
    for peer, exe in (("redis", "redis-server"), ("memcached", "memcached")):
        if any(os.access(os.path.join(d, exe), os.X_OK)
               for d in os.environ.get("PATH", "").split(":")):
            assert rows[f"{peer}/get/1/4194304/1"]["cell"], peer
    # the table printed is the one written
    assert md.strip() in out
    assert "== [" in err  # a progress line per section, rows under it
