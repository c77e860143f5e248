"""Transfer engine across processes, through the real metadata server:
mc_transfer_bench --mode=serve publishes a segment, --mode=client opens it
by name, writes and reads every byte and verifies them."""
import os
import signal
import subprocess
import time

from conftest import BIN_DIR, binary, free_port, request

BENCH = "mc_transfer_bench"


def start_peer(meta_url, name, size="8MiB", *extra):
    p = subprocess.Popen([binary(BENCH), "--mode=serve", f"--segment={name}",
                          f"--seg_size={size}", f"--metadata={meta_url}", *extra],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()  # "READY host:port" once published
    assert line.startswith("READY "), p.stderr.read()
    return p


def stop_peer(p):
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) == 0, p.stderr.read()


def run_client(meta_url, name, *extra):
    return subprocess.run([binary(BENCH), "--mode=client", f"--segment={name}",
                           f"--metadata={meta_url}", *extra],
                          capture_output=True, text=True, timeout=60)


def test_two_processes_via_metadata_server(cluster):
    meta = cluster.metadata()
    url = meta.url + "/metadata"
    peer = start_peer(url, "seg-a", "8MiB")
    try:
        assert request("GET", url + "?key=mooncake%2Fram%2Fseg-a").status == 200
        r = run_client(url, "seg-a", "--verify")
        assert r.returncode == 0, r.stderr
        assert "VERIFY OK tcp" in r.stdout
        r = run_client(url, "seg-a", "--verify", "--crc", "--conns=1")
        assert r.returncode == 0, r.stderr
    finally:
        stop_peer(peer)
    # Unregister on shutdown removed the descriptor; a client now gets not-found.
    assert request("GET", url + "?key=mooncake%2Fram%2Fseg-a").status == 404
    r = run_client(url, "seg-a", "--verify")
    assert r.returncode != 0 and "SEGMENT_NOT_FOUND" in r.stderr


def test_republish_after_metadata_loss(cluster):
    meta = cluster.metadata()
    url = meta.url + "/metadata"
    peer = start_peer(url, "seg-b", "1MiB", "--republish_ms=100")
    try:
        key = url + "?key=mooncake%2Fram%2Fseg-b"
        assert request("DELETE", key).status == 200
        deadline = time.monotonic() + 5
        while request("GET", key).status != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert request("GET", key).status == 200
        r = run_client(url, "seg-b", "--verify")
        assert r.returncode == 0, r.stderr
    finally:
        stop_peer(peer)


def test_bench_local_runs(tmp_path):
    r = subprocess.run([binary(BENCH), "--duration=0.3", "--block=1MiB", "--conns=2"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "plain tcp stream" in r.stdout
    assert r.stdout.count("GB/s") == 6
