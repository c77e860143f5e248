#!/usr/bin/python3
"""`make bench`: the performance table, in one run on one machine.

Starts its own cluster on loopback (metadata server, master, store services
a and b, store c with a cluster token, and for the cost-growth rows a second
master with store g), its own redis-server and memcached, runs every cell
(tests/bench/*.c and clients/python/bench/cells.py print one JSON line
each), stops everything it started (also on failure and Ctrl-C), writes
bench/results/<date>.md and <date>.json and prints the table, with a
progress line per row on stderr. docs/performance.md explains the rows.

Environment: MC_BIN_DIR (default build/release/bin), MC_PYTHON (the python
with the mooncake package; default build/release/venv/bin/python),
BENCH_QUICK=1 (shorter cells, < 2 minutes), BENCH_SECONDS (seconds per run
of a cell), BENCH_RUNS (runs per cell, default 3), BENCH_OUT (results
directory, default bench/results), BENCH_NO_PEERS=1 (skip Redis/memcached
even when installed: their rows then say why), BENCH_ONLY=part,part (only
those parts: limits c python rest auth master te ssd 2role peers threads
growth ratios; for working on the driver).
Standard library only; run with Debian's /usr/bin/python3."""
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.abspath(os.environ.get("MC_BIN_DIR", os.path.join(ROOT, "build/release/bin")))
PY = os.environ.get("MC_PYTHON", os.path.join(ROOT, "build/release/venv/bin/python"))
QUICK = os.environ.get("BENCH_QUICK") == "1"
SECONDS = float(os.environ.get("BENCH_SECONDS", "0.05" if QUICK else "0.3"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
OUT = os.path.abspath(os.environ.get("BENCH_OUT", os.path.join(ROOT, "bench/results")))
KiB, MiB = 1 << 10, 1 << 20
SIZES = [4 * KiB, 64 * KiB, MiB, 4 * MiB, 32 * MiB]
PY_SIZES = [MiB, 4 * MiB]
BATCH_CAP = 256 * MiB  # batch x size above it: the cell is not run (said in the row)
SEGMENT = "1536MB"
OPS = [  # (op, batch): the store rows, C and Python
    ("get", 1), ("put", 1), ("get_into", 1), ("put_from", 1),
    ("batch_get_into", 16), ("batch_put_from", 16),
    ("batch_get_into", 128), ("batch_put_from", 128),
    ("batch_get_into_multi", 16), ("batch_put_from_multi", 16),
    ("get_buffer", 1),
]
GROWTH_LEVELS = [1000, 100000, 1000000]
THREADS = [1, 2, 4, 8]


class Failed(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def human(n):
    return f"{n // MiB} MiB" if n >= MiB else f"{n // KiB} KiB"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- processes ----

class Procs:
    """Everything this run started, stopped in reverse order."""

    def __init__(self, rundir):
        self.rundir = rundir
        self.procs = []

    def start(self, name, args, **kw):
        logf = open(os.path.join(self.rundir, f"{name}.log"), "wb")
        p = subprocess.Popen(args, stdout=kw.pop("stdout", logf), stderr=logf,
                             stdin=kw.pop("stdin", subprocess.DEVNULL), **kw)
        p.bench_name = name
        self.procs.append(p)
        return p

    def stop(self, p):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self):
        for p in reversed(list(self.procs)):
            self.stop(p)


def wait_http(url, proc, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise Failed(f"{proc.bench_name} exited ({proc.returncode}); see its log")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.05)
    raise Failed(f"{proc.bench_name} not up at {url}")


def wait_tcp(port, proc, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise Failed(f"{proc.bench_name} exited ({proc.returncode}); see its log")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise Failed(f"{proc.bench_name} not listening on {port}")


def wait_populated(rest, timeout=60.0):
    """Until the segment is paged in (the background page-in competes for CPU)."""
    end = time.time() + timeout
    while time.time() < end:
        try:
            m = urllib.request.urlopen(rest + "/metrics", timeout=2).read().decode()
            v = dict(re.findall(r"^(mc_store_segment_(?:capacity|populated)_bytes) (\S+)$", m,
                                re.M))
            if len(v) == 2 and float(v["mc_store_segment_capacity_bytes"]) == \
                    float(v["mc_store_segment_populated_bytes"]):
                return
        except OSError:
            pass
        time.sleep(0.1)


class Cluster:
    def __init__(self, procs, rundir):
        self.procs, self.rundir = procs, rundir
        self.stores = {}

    def start_master(self, name, *extra):
        port, mport = free_port(), free_port()
        p = self.procs.start(name, [f"{BIN}/mooncake_master", f"--rpc_port={port}",
                                    f"--metrics_port={mport}", "--log_level=warn", *extra])
        wait_http(f"http://127.0.0.1:{port}/health", p)
        p.metrics_url = f"http://127.0.0.1:{mport}/metrics"
        return p, port

    def start(self):
        mport = free_port()
        self.meta = self.procs.start("metadata", [f"{BIN}/mooncake_http_metadata_server",
                                                  f"--port={mport}"])
        self.meta_url = f"http://127.0.0.1:{mport}/metadata"
        wait_http(f"http://127.0.0.1:{mport}/health", self.meta)
        self.master, self.master_port = self.start_master("master")
        for s in ("a", "b"):
            self.start_store(s, self.master_port, SEGMENT)
        token = os.path.join(self.rundir, "token")
        with open(token, "w") as f:
            f.write(os.urandom(16).hex() + "\n")
        os.chmod(token, 0o600)
        self.token = token
        # c only ever holds its own values: full, it would place them on a or b, whose
        # data plane refuses its handshake, and the failed writes would suspend them
        self.start_store("c", self.master_port, "768MB", f"--auth_token_file={token}")
        for s in ("a", "b", "c"):
            wait_populated(self.stores[s]["rest"])

    def start_store(self, s, master_port, seg, *extra):
        r, d = free_port(), free_port()
        sock = os.path.join(self.rundir, f"{s}.sock")
        args = [f"{BIN}/mooncake_store_service", f"--rest_port={r}",
                f"--local_hostname=127.0.0.1:{d}", f"--global_segment_size={seg}",
                f"--master_server_addr=127.0.0.1:{master_port}",
                f"--metadata_server={self.meta_url}", f"--ipc_socket={sock}",
                "--threads=8", "--log_level=warn", *extra]
        p = self.procs.start(f"store-{s}", args)
        self.stores[s] = {"rest": f"http://127.0.0.1:{r}", "seg": f"127.0.0.1:{d}",
                          "sock": sock, "proc": p}
        wait_http(self.stores[s]["rest"] + "/health", p)  # /health needs no token
        return self.stores[s]


# ---- running cells ----

def run_json(args, timeout=120, name=None):
    """Runs a cell program; its JSON lines (a dict with "error" when it failed)."""
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return [{"error": f"timed out after {timeout} s"}]
    out = []
    for line in r.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    if not out:
        err = (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]
        out = [{"error": err[:200]}]
    return out


def common():
    return [f"--seconds={SECONDS}", f"--runs={RUNS}"]


class Table:
    """Rows in sections; each row: name, value text, min-max, p50, p99, note."""

    def __init__(self, quiet=False):
        self.quiet = quiet
        self.sections = []  # (title, [row])
        self.cells = {}     # key -> cell dict
        self.t0 = time.time()

    def section(self, title):
        self.sections.append((title, []))
        if not self.quiet:
            log(f"== [{time.time() - self.t0:5.0f} s] {title}")

    def add(self, key, name, cell, unit="GB/s", note=""):
        """A measured row; cell is a JSON dict from a cell program."""
        self.cells[key] = cell
        row = {"key": key, "name": name, "cell": cell, "unit": unit, "note": note}
        self.sections[-1][1].append(row)
        if not self.quiet:
            log(f"  {name}: {fmt_value(row)}")
        return cell

    def text(self, key, name, value, note=""):
        row = {"key": key, "name": name, "cell": None, "value": value, "note": note}
        self.sections[-1][1].append(row)
        if not self.quiet:
            log(f"  {name}: {value}")

    def get(self, key):
        c = self.cells.get(key)
        return c if c and "error" not in c else None


def scale(unit):
    return {"GB/s": 1e9, "k keys/s": 1e3, "keys/s": 1.0, "M keys/s": 1e6}.get(unit, 1.0)


def fmt_value(row):
    c = row.get("cell")
    if c is None:
        return row.get("value", "")
    if "error" in c:
        return f"failed: {c['error']}"
    s = scale(row["unit"])
    return f"{c['median'] / s:.2f} {row['unit']} ({c['min'] / s:.2f}–{c['max'] / s:.2f})"


def render(table, header):
    out = [header]
    for title, rows in table.sections:
        out.append(f"\n### {title}\n")
        out.append("| row | median (min–max) | p50 µs | p99 µs | note |")
        out.append("|---|---|---|---|---|")
        for r in rows:
            c = r.get("cell")
            p50 = p99 = ""
            if c and "error" not in c and c.get("p50_us"):
                p50, p99 = f"{c['p50_us']:.0f}", f"{c['p99_us']:.0f}"
            out.append(f"| {r['name']} | {fmt_value(r)} | {p50} | {p99} | {r['note']} |")
    return "\n".join(out) + "\n"


# ---- the measurements ----

def limits(t, rundir):
    t.section("Limits of this machine")
    lb = f"{BIN}/mc_limits_bench"
    for size in SIZES:
        t.add(f"memcpy/1/{size}", f"memcpy, 1 thread, {human(size)} copies",
              run_json([lb, "--cell=memcpy", f"--size={size}", *common()])[0],
              note="64 MiB working set" if size < 32 * MiB else "64 MiB working set (2 slots)")
    t.add("memcpy/2/4194304", "memcpy, 2 threads, 4 MiB copies",
          run_json([lb, "--cell=memcpy", "--size=4194304", "--threads=2", *common()])[0],
          note="sum of both")
    for n in (1, 2):
        t.add(f"tcp/{n}", f"loopback TCP, {n} stream{'s' if n > 1 else ''}, 4 MiB writes",
              run_json([lb, "--cell=tcp", "--size=4194304", f"--threads={n}", *common()])[0])
    for op in ("write", "read"):
        t.add(f"odirect/{op}", f"O_DIRECT sequential {op}, 4 MiB blocks, 256 MiB file",
              run_json([lb, f"--cell=odirect_{op}", f"--dir={rundir}", *common()])[0],
              note=f"disk under {rundir}")


def store_cell_args(cl, where_store, op, size, batch, where, threads=1):
    s = cl.stores
    return [f"--a={s[where_store]['sock']}", f"--seg_a={s[where_store]['seg']}",
            f"--seg_b={s['b']['seg']}", f"--cell={op}", f"--size={size}", f"--batch={batch}",
            f"--where={where}", f"--threads={threads}", *common()]


def store_rows(t, cl, client, sizes):
    t.section(f"Our store, {'C client (libmooncake_client)' if client == 'c' else 'Python client (mooncake.store)'}: client on store a")
    prog = [f"{BIN}/mc_client_bench"] if client == "c" else [PY, os.path.join(
        ROOT, "clients/python/bench/cells.py")]
    for where in ("local", "remote"):
        for op, batch in OPS:
            for size in sizes:
                name = (f"{op}{f' x{batch}' if batch > 1 else ''} {human(size)}, {where} "
                        f"segment")
                key = f"{client}/{op}/{batch}/{size}/{where}"
                if batch * size > BATCH_CAP:
                    t.text(key, name, "not run", f"batch x size > {BATCH_CAP // MiB} MiB")
                    continue
                cell = run_json(prog + store_cell_args(cl, "a", op, size, batch, where))[0]
                note = ""
                if "error" not in cell:
                    note = f"{cell['median'] / size:,.0f} keys/s"
                if op == "get_buffer" and where == "local":
                    note += "; a view, no copy: bytes/s is size / call time"
                t.add(key, name, cell, note=note)
        key = f"{client}/batch_is_exist/128/{where}"
        cell = run_json(prog + store_cell_args(cl, "a", "batch_is_exist", 4096, 128, where))[0]
        t.add(key, f"batch_is_exist of 128 keys, {where} segment", cell, unit="k keys/s")


def rest_rows(t, cl):
    t.section("REST API (mc_store_bench, 4 client threads, keep-alive), store a")
    for label, seg in (("local", cl.stores["a"]["seg"]), ("remote", cl.stores["b"]["seg"])):
        cells = run_json([f"{BIN}/mc_store_bench", f"--url={cl.stores['a']['rest']}",
                          f"--seg={cl.stores['a']['seg']}", f"--data_seg={seg}",
                          "--sizes=1048576,4194304", f"--label={label}", "--threads=4",
                          # a working set the segment holds next to what the earlier
                          # cells left: larger, its GETs read keys evicted meanwhile
                          # (404) and its PUTs meet a segment of objects younger than
                          # --min_residency_ms (507), counted as failed requests
                          "--max_bytes=128MB", "--json", *common()], timeout=300)
        by = {(c.get("op"), c.get("size")): c for c in cells}
        for size in PY_SIZES:
            for op in ("put", "get"):
                c = by.get((op, size), cells[0] if "error" in cells[0] else {"error": "missing"})
                t.add(f"rest/{op}/{size}/{label}",
                      f"REST {op.upper()} {human(size)}, {label} segment", c, note=rest_note(c))


def rest_note(c):
    return f"{c['errors']} failed requests (PUT+GET)" if c.get("errors") else ""


def auth_rows(t, cl):
    t.section("Credentials: the same calls with and without a cluster token")
    c = cl.stores["c"]
    for tok, st, extra in (("without", cl.stores["a"], []),
                           ("with", c, [f"--token_file={cl.token}"])):
        cells = run_json([f"{BIN}/mc_store_bench", f"--url={st['rest']}", f"--seg={st['seg']}",
                          "--sizes=4194304", "--label=local", "--threads=4", "--json",
                          "--max_bytes=128MB",
                          *extra, *common()], timeout=300)
        g = [x for x in cells if x.get("op") == "get"] or cells
        t.add(f"auth/rest/{tok}", f"REST GET 4 MiB, local, {tok} token", g[0],
              note="; ".join(x for x in ("store c has --auth_token_file" if tok == "with" else
                                         "store a", rest_note(g[0])) if x))
    for tok, st in (("without", cl.stores["a"]), ("with", c)):
        cell = run_json([f"{BIN}/mc_client_bench", f"--a={st['sock']}", f"--seg_a={st['seg']}",
                         f"--seg_b={cl.stores['b']['seg']}", "--cell=get_into",
                         "--size=4194304", "--where=local", *common()])[0]
        t.add(f"auth/get_into/{tok}", f"get_into 4 MiB (C), local, {tok} token", cell,
              note="the master round trips carry the token" if tok == "with" else "")
    t.text("auth/checksum", "CRC32C checksums", "always on",
           "every put computes it, every read checks it: every row above includes the cost")


def master_rows(t):
    t.section("Master metadata (mc_master_bench: its own master, 4 client threads, HTTP/JSON)")
    runs = {}
    for _ in range(RUNS):
        try:
            r = subprocess.run([f"{BIN}/mc_master_bench", f"--master={BIN}/mooncake_master",
                                f"--seconds={SECONDS}", "--batches=1,16,128", "--objects=1"],
                               capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            continue
        for line in r.stdout.splitlines():
            f = [x.strip() for x in line.strip().strip("|").split("|")]
            if len(f) == 6 and f[1].isdigit():
                runs.setdefault((f[0], int(f[1])), []).append(
                    (float(f[2]), float(f[3]) * 1000, float(f[4]) * 1000))
    for op in ("put_start + put_end", "get_replica_list"):
        for b in (1, 16, 128):
            v = sorted(runs.get((op, b), []))
            if not v:
                t.add(f"master/{op}/{b}", f"master {op}, batch {b}", {"error": "no output"})
                continue
            cell = {"median": v[len(v) // 2][0], "min": v[0][0], "max": v[-1][0],
                    "p50_us": v[len(v) // 2][1], "p99_us": v[len(v) // 2][2],
                    "runs": [x[0] for x in v]}
            t.add(f"master/{op}/{b}", f"master {op}, batch {b}", cell, unit="k keys/s",
                  note="p50/p99 per request")


def transfer_rows(t):
    t.section("Transfer engine (mc_transfer_bench: two engines in one process, TCP)")
    runs = {}
    for _ in range(RUNS):
        try:
            r = subprocess.run([f"{BIN}/mc_transfer_bench", "--block=4MiB",
                                f"--duration={SECONDS}", "--op=both"], capture_output=True,
                               text=True, timeout=120)
        except subprocess.TimeoutExpired:
            continue
        for line in r.stdout.splitlines():
            m = re.match(r"plain tcp stream .*?([\d.]+) GB/s\s+p50\s+([\d.]+) us\s+p99\s+([\d.]+)",
                         line)
            if m:
                runs.setdefault(("plain", 0), []).append(
                    (float(m.group(1)) * 1e9, float(m.group(2)), float(m.group(3))))
            m = re.match(r"(te \S+ (READ|WRITE)\s+.*?conns=(\d+)).*?([\d.]+) GB/s\s+p50\s+([\d.]+)"
                         r" us\s+p99\s+([\d.]+) us", line)
            if m:
                runs.setdefault((m.group(2), int(m.group(3))), []).append(
                    (float(m.group(4)) * 1e9, float(m.group(5)), float(m.group(6))))
    if not runs:
        t.add("te", "transfer engine 4 MiB", {"error": "no output from mc_transfer_bench"})
    for (op, conns), v in sorted(runs.items()):
        v.sort()
        cell = {"median": v[len(v) // 2][0], "min": v[0][0], "max": v[-1][0],
                "p50_us": v[len(v) // 2][1], "p99_us": v[len(v) // 2][2]}
        if op == "plain":
            t.add("te/plain", "plain TCP stream, 4 MiB (mc_transfer_bench's own)", cell)
            continue
        t.add(f"te/{op}/{conns}", f"transfer engine {op} 4 MiB, {conns} connection"
              f"{'s' if conns > 1 else ''}", cell)


SSD_ROW = re.compile(r"^(raw|mc_ssd)\s+(\S+)\s+(\d+)M\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)"
                     r"\s+\S*\s*\|\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)")


def ssd_rows(t, rundir):
    """mc_ssd_bench (the SSD tier's backend): batch offload (write) and load
    (read) of 1 and 4 MiB values at batch 16 for each durability level, next
    to raw sequential O_DIRECT write and read of the same disk interleaved
    with them in the same program; then the recovery scan."""
    t.section("SSD tier (mc_ssd_bench: backend, batch 16, raw O_DIRECT of the same disk "
              "interleaved)")
    helptext = subprocess.run([f"{BIN}/mooncake_store_service", "--help"],
                              capture_output=True, text=True).stdout
    tool = os.path.join(BIN, "mc_ssd_bench")
    names = ["offload 1 MiB x16", "load 1 MiB x16", "offload 4 MiB x16", "load 4 MiB x16"]
    if "--ssd_path" not in helptext or not os.access(tool, os.X_OK):
        for n in names:
            t.text(f"ssd/{n}", f"SSD {n}", "n/a (no SSD tier in this build)")
        return
    ssd_dir = os.path.join(rundir, "ssd")
    os.makedirs(ssd_dir, exist_ok=True)
    quick = QUICK
    args = [tool, f"--dir={ssd_dir}", f"--mib={64 if quick else 256}", "--batches=16",
            "--durability=none,data,full", f"--recovery={20000 if quick else 100000}",
            f"--reps={1 if quick else 3}", "--no-unaligned"]
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=400).stdout
    except subprocess.TimeoutExpired:
        out = ""
    reps = "one run" if quick else "median of 3"
    found = 0
    for line in out.splitlines():
        m = SSD_ROW.match(line.strip())
        if m:
            who, dur, mib, batch = m.group(1), m.group(2), int(m.group(3)), int(m.group(4))
            size = human(mib << 20)
            for op, gbs, p50, p99 in (("offload", *m.group(5, 6, 7)), ("load", *m.group(8, 9, 10))):
                v = float(gbs) * 1e9
                cell = {"median": v, "min": v, "max": v, "p50_us": float(p50) * 1e3,
                        "p99_us": float(p99) * 1e3}
                if who == "raw":
                    what = "write" if op == "offload" else "read"
                    key, name = f"ssd/raw {what} {size} x{batch}", \
                        f"raw O_DIRECT {what}, {size} blocks x{batch} (same disk)"
                elif dur == "data":  # the default: data synced before the index
                    key, name = f"ssd/{op} {size} x{batch}", \
                        f"SSD {op} {size} x{batch} (durability=data, the default)"
                else:
                    key, name = f"ssd/{op} {size} x{batch} {dur}", \
                        f"SSD {op} {size} x{batch} durability={dur}"
                t.add(key, name, cell, note=f"{reps} (mc_ssd_bench)")
                found += 1
        m = re.search(r"recovery scan .*: ([\d.]+) s, (\d+) objects/s", line)
        if m:
            v = float(m.group(2))
            t.add("ssd/recovery", "SSD recovery scan (index + record headers)",
                  {"median": v, "min": v, "max": v}, unit="keys/s", note="one run (mc_ssd_bench)")
            found += 1
    if not found:
        for n in names:
            t.text(f"ssd/{n}", f"SSD {n}", "n/a (mc_ssd_bench gave no rows this driver reads)")


def two_role(t, cl):
    t.section("Two roles (stress_cluster_benchmark shape): prefill puts 1 MiB through store a, "
              "decode reads them through store b")
    dur = max(SECONDS * 2, 0.2)
    pre, dec = [], []
    for r in range(RUNS):
        tag = f"sc{os.getpid()}-{r}"
        base = [f"{BIN}/mc_client_bench", f"--seg_a={cl.stores['a']['seg']}",
                f"--seg_b={cl.stores['b']['seg']}", "--size=1048576", f"--seconds={dur}",
                "--runs=1", f"--tag={tag}"]
        pp = subprocess.Popen(base + [f"--a={cl.stores['a']['sock']}", "--cell=prefill"],
                              stdout=subprocess.PIPE, text=True)
        dp = subprocess.Popen(base + [f"--a={cl.stores['b']['sock']}", "--cell=decode"],
                              stdout=subprocess.PIPE, text=True)
        for p, acc in ((pp, pre), (dp, dec)):
            try:
                out, _ = p.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                out, _ = p.communicate()
            for line in out.splitlines():
                if line.startswith("{"):
                    acc.append(json.loads(line))
    for name, acc, note in (("prefill put_from 1 MiB (store a)", pre, "window of 256 keys"),
                            ("decode get_into 1 MiB (store b, remote read)", dec, "")):
        ok = [c for c in acc if "error" not in c]
        if not ok:
            t.add(f"2role/{name}", name, acc[0] if acc else {"error": "no output"})
            continue
        ok.sort(key=lambda c: c["median"])
        med = ok[len(ok) // 2]
        cell = dict(med, min=ok[0]["median"], max=ok[-1]["median"],
                    runs=[c["median"] for c in ok])
        skipped = sum(c.get("skipped", 0) for c in ok)
        if skipped:
            note = f"fell behind the window and skipped ahead {skipped}x"
        t.add(f"2role/{name.split()[0]}", name, cell, note=note)


def peers_start(procs, rundir):
    peers = {}
    if os.environ.get("BENCH_NO_PEERS") == "1":
        return peers
    if shutil.which("redis-server"):
        port = free_port()
        p = procs.start("redis", ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                  "--save", "", "--appendonly", "no", "--dir", rundir,
                                  "--proto-max-bulk-len", "64mb", "--daemonize", "no"])
        wait_tcp(port, p)
        peers["redis"] = port
    if shutil.which("memcached"):
        port = free_port()
        args = ["memcached", "-p", str(port), "-l", "127.0.0.1", "-U", "0", "-I", "64m",
                "-m", "3072", "-t", "2"]
        if os.geteuid() == 0:
            args += ["-u", "root"]
        p = procs.start("memcached", args)
        wait_tcp(port, p)
        peers["memcached"] = port
    return peers


def peer_rows(t, peers, procs):
    t.section("Peers: Redis and memcached (mc_peer_bench: 1 client thread, pipeline = our batch)")
    for peer in ("redis", "memcached"):
        for op in ("set", "get"):
            for batch in (1, 16, 128):
                for size in SIZES:
                    key = f"{peer}/{op}/{batch}/{size}/1"
                    name = f"{peer} {op.upper()} {human(size)}, pipeline {batch}"
                    if peer not in peers:
                        t.text(key, name, f"n/a ({peer} not installed or BENCH_NO_PEERS)")
                        continue
                    if batch * size > BATCH_CAP:
                        t.text(key, name, "not run", f"batch x size > {BATCH_CAP // MiB} MiB")
                        continue
                    t.add(key, name, run_json([f"{BIN}/mc_peer_bench", f"--proto={peer}",
                                               f"--port={peers[peer]}", f"--op={op}",
                                               f"--size={size}", f"--batch={batch}",
                                               *common()])[0])
        for size in PY_SIZES:  # the REST rows' shape: 4 threads, no pipelining
            key = f"{peer}/get/1/{size}/4"
            name = f"{peer} GET {human(size)}, 4 client threads, no pipelining"
            if peer not in peers:
                t.text(key, name, f"n/a ({peer} not installed or BENCH_NO_PEERS)")
                continue
            t.add(key, name, run_json([f"{BIN}/mc_peer_bench", f"--proto={peer}",
                                       f"--port={peers[peer]}", "--op=get", f"--size={size}",
                                       "--threads=4", *common()])[0],
                  note="next to the REST GET rows")


def threads_rows(t, cl):
    t.section("Cost growth: client threads (C, 1 MiB, local segment, one handle per thread)")
    for op in ("put_from", "get_into"):
        for n in THREADS:
            t.add(f"threads/{op}/{n}", f"{op} 1 MiB, {n} client thread{'s' if n > 1 else ''}",
                  run_json([f"{BIN}/mc_client_bench"] +
                           store_cell_args(cl, "a", op, MiB, 1, "local", n))[0])


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def master_keys(master):
    try:
        m = urllib.request.urlopen(master.metrics_url, timeout=5).read().decode()
        return re.search(r"^mc_master_keys (\S+)$", m, re.M).group(1)
    except (OSError, AttributeError):
        return "?"


def growth_rows(t, cl, procs):
    t.section("Cost growth: objects in the master (a second master with store g; the objects "
              "are 4 KiB each on a virtual segment)")
    master, port = cl.start_master("master-growth", "--client_ttl=86400",
                                   "--eviction_high_watermark_ratio=1")
    levels = GROWTH_LEVELS if not QUICK else GROWTH_LEVELS[:2]
    loader = procs.start("loader", [f"{BIN}/mc_master_bench", f"--url=http://127.0.0.1:{port}",
                                    "--load_to=" + ",".join(str(n) for n in levels)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    g = None
    try:
        for n in levels:
            line = loader.stdout.readline().decode().strip()
            if not line.startswith("LOADED"):
                raise Failed(f"loader: {line or 'exited'}")
            if g is None:  # after the virtual segment: puts of the cells go to g
                g = cl.start_store("g", port, "256MB")
                wait_populated(g["rest"])
            label = f"10^{len(str(n)) - 1}"
            rss = rss_mib(master.pid)
            log(f"  (loaded {line.split()[1]}, master holds {master_keys(master)})")
            for op, size, batch, unit in (("get_into", 4096, 1, "k keys/s"),
                                          ("batch_is_exist", 4096, 128, "k keys/s")):
                cell = run_json([f"{BIN}/mc_client_bench", f"--a={g['sock']}",
                                 f"--seg_a={g['seg']}", f"--seg_b={g['seg']}", f"--cell={op}",
                                 f"--size={size}", f"--batch={batch}", "--where=local",
                                 *common()])[0]
                if op == "get_into" and "error" not in cell:
                    cell = dict(cell, median=cell["median"] / size, min=cell["min"] / size,
                                max=cell["max"] / size)
                what = "get_into 4 KiB" if op == "get_into" else "batch_is_exist 128 keys"
                t.add(f"growth/{op}/{n}", f"{what} at {label} objects", cell, unit=unit,
                      note="latency: see p50/p99")
            t.text(f"growth/rss/{n}", f"master RSS at {label} objects", f"{rss:.1f} MiB",
                   f"{line.split()[1]} objects loaded, the master holds {master_keys(master)}")
            loader.stdin.write(b"next\n")
            loader.stdin.flush()
    finally:
        procs.stop(loader)
    if QUICK:
        for n in GROWTH_LEVELS[2:]:
            label = f"10^{len(str(n)) - 1}"
            for k, what in (("get_into", "get_into 4 KiB"),
                            ("batch_is_exist", "batch_is_exist 128 keys"), ("rss", "master RSS")):
                t.text(f"growth/{k}/{n}", f"{what} at {label} objects",
                       "not run (BENCH_QUICK)")


# ---- ratios and goals ----

def ratios(t, cl=None, peers=None, have_py=False):
    """The goal rows. A ratio of two cells is measured as a pair: one run of
    each, back to back, RUNS times alternating, so both sides see the same
    load (this machine is shared); the row is the median of the per-pair
    ratios with their min-max. cl None: the rows only, each n/a."""
    t.section("Ratios and goals (issues #10, #11, #12, #13): each ratio from pairs of runs "
              "measured back to back")
    peers = peers or {}
    one = [f"--seconds={SECONDS}", "--runs=1"]

    def c_cell(op, size, batch=1, where="local", store="a"):
        s = cl.stores
        return [f"{BIN}/mc_client_bench", f"--a={s[store]['sock']}", f"--seg_a={s[store]['seg']}",
                f"--seg_b={s['b']['seg']}", f"--cell={op}", f"--size={size}", f"--batch={batch}",
                f"--where={where}", *one]

    def py_cell(op, size, batch=1):
        return [PY, os.path.join(ROOT, "clients/python/bench/cells.py")] + c_cell(
            op, size, batch)[1:]

    def lim(cell, threads=1):
        return [f"{BIN}/mc_limits_bench", f"--cell={cell}", "--size=4194304",
                f"--threads={threads}", *one]

    def peer(name, op, size, threads=1):
        return [f"{BIN}/mc_peer_bench", f"--proto={name}", f"--port={peers.get(name, 0)}",
                f"--op={op}", f"--size={size}", f"--threads={threads}", *one]

    def rest(store, token=False):
        st = cl.stores[store]
        return [f"{BIN}/mc_store_bench", f"--url={st['rest']}", f"--seg={st['seg']}",
                "--sizes=4194304", "--label=local", "--threads=4", "--json", "--max_bytes=128MB",
                *([f"--token_file={cl.token}"] if token else []), *one]

    def verdict(v, goal):
        if goal is None:
            return ""
        op, g = goal
        return f"goal {op} {g}: {'met' if (v >= g if op == '>=' else v <= g) else 'NOT met'}"

    def pair(key, name, a, b, goal=None, metric="median", needs=(), note=""):
        """a, b: functions returning the argument lists (called only when measuring)."""
        missing = [n for n in needs if n not in peers and n != "python"] + \
            (["the mooncake package"] if "python" in needs and not have_py else [])
        if cl is None or missing:
            t.text(key, name, "n/a", f"no {', '.join(missing)}" if missing else "")
            return
        rs, av, bv, pr = [], [], [], []
        for _ in range(RUNS):
            ca = [c for c in run_json(a()) if c.get("client") != "rest" or c.get("op") == "get"]
            cb = [c for c in run_json(b()) if c.get("client") != "rest" or c.get("op") == "get"]
            ca, cb = (ca or [{}])[-1], (cb or [{}])[-1]  # mc_store_bench: the GET line
            if ca.get(metric) and cb.get(metric):
                rs.append(ca[metric] / cb[metric])
                av.append(ca[metric])
                bv.append(cb[metric])
                if metric == "median" and ca.get("p50_us") and cb.get("p50_us"):
                    pr.append((cb["p50_us"] / cb.get("size", 1)) / (ca["p50_us"] / ca.get("size", 1)))
        if not rs:
            t.add(key, name, {"error": (ca.get("error") or cb.get("error") or "no result")},
                  unit="x")
            return
        rs.sort()
        med_r = rs[len(rs) // 2]
        unit = "µs p50" if metric == "p50_us" else "GB/s"
        sc = 1.0 if metric == "p50_us" else 1e9
        abs_note = (f"{sorted(av)[len(av) // 2] / sc:.2f} vs {sorted(bv)[len(bv) // 2] / sc:.2f} "
                    f"{unit}")
        if pr:  # per byte of one call at p50: blind to the time a busy CPU preempts a loop
            pr.sort()
            abs_note += f"; per call at p50 {pr[len(pr) // 2]:.2f}"
        t.add(key, name, {"median": med_r, "min": rs[0], "max": rs[-1], "runs": rs}, unit="x",
              note="; ".join(x for x in (verdict(med_r, goal), abs_note, note) if x))

    def absolute(key, name, v, goal, shown, missing="a cell is missing or failed"):
        if v is None:
            t.text(key, name, "n/a", missing)
        else:
            t.text(key, name, shown, verdict(v, goal))

    def med(k):
        c = t.get(k)
        return c["median"] if c else None

    def p50(k):
        c = t.get(k)
        return c["p50_us"] if c else None

    M4 = 4 * MiB
    pair("r/memcpy/get_into", "local get_into 4 MiB / memcpy 4 MiB (1 thread)",
         lambda: c_cell("get_into", M4), lambda: lim("memcpy"), (">=", 0.7))
    pair("r/memcpy/put_from", "local put_from 4 MiB / memcpy 4 MiB (1 thread)",
         lambda: c_cell("put_from", M4), lambda: lim("memcpy"), (">=", 0.7))
    pair("r/tcp/get_into", "remote get_into 4 MiB / loopback TCP, 1 stream",
         lambda: c_cell("get_into", M4, where="remote"), lambda: lim("tcp"), (">=", 0.8))
    te, tcp = med("te/READ/1"), med("te/plain")
    absolute("r/tcp/te", "transfer engine READ 4 MiB, 1 connection / plain TCP stream (same "
             "mc_transfer_bench run)", te / tcp if te and tcp else None, None,
             f"{te / tcp:.2f}" if te and tcp else "")
    for where, goal in (("local", 300000), ("remote", 100000)):
        c = t.get(f"c/batch_get_into/128/4096/{where}")
        keys = c["median"] / 4096 if c else None
        absolute(f"r/keys/{where}", f"{where} batch_get_into 128 x 4 KiB, keys/s",
                 keys, (">=", goal), f"{keys:,.0f}" if keys else "")
    big, small = p50("c/get_buffer/1/33554432/local"), p50("c/get_buffer/1/4096/local")
    absolute("r/get_buffer/flat", "get_buffer local p50: 32 MiB / 4 KiB",
             big / small if big and small else None, ("<=", 1.2),
             f"{big / small:.2f} ({big:.0f} vs {small:.0f} µs)" if big and small else "")
    rtt = p50("master/get_replica_list/1")
    absolute("r/get_buffer/rtt", "get_buffer local 4 KiB p50 - master round trip p50 (µs)",
             small - rtt if small and rtt else None, ("<=", 20),
             f"{small - rtt:.0f} ({small:.0f} - {rtt:.0f})" if small and rtt else "")
    e = p50("c/batch_is_exist/128/local")
    absolute("r/exist", "batch_is_exist 128 keys p50 (µs)", e, ("<=", 100),
             f"{e:.0f}" if e else "")
    for name, mult, plain in (("redis", 3.0, 1.5), ("memcached", 2.0, None)):
        for size in PY_SIZES:
            h = human(size)
            for ours, theirs, g in (("get_into", "get", mult), ("put_from", "set", mult),
                                    ("get", "get", plain), ("put", "set", plain)):
                pair(f"r/{name}/{ours}/{size}", f"{ours} {h} local / {name} {theirs.upper()} {h}",
                     lambda o=ours, s=size: c_cell(o, s),
                     lambda n=name, th=theirs, s=size: peer(n, th, s),
                     (">=", g) if g else None, needs=(name,))
        pair(f"r/{name}/rest", f"REST GET 4 MiB local / {name} GET 4 MiB (4 client threads each)",
             lambda: rest("a"), lambda n=name: peer(n, "get", M4, 4),
             (">=", 1.5) if name == "redis" else None, needs=(name,))
    for op in ("offload", "load"):
        what = "write" if op == "offload" else "read"
        ours, raw = med(f"ssd/{op} 4 MiB x16"), med(f"ssd/raw {what} 4 MiB x16")
        absolute(f"r/disk/{op}", f"SSD {op} 4 MiB x16 / O_DIRECT {what} (same disk, "
                 f"interleaved)",
                 ours / raw if ours and raw else None, (">=", 0.9),
                 f"{ours / raw:.2f}" if ours and raw else "",
                 "no SSD rows in this run" if not ours else "a cell is missing or failed")
    for op in ("batch_get_into", "batch_put_from"):
        pair(f"r/python/{op}", f"Python / C, {op} x16 4 MiB local",
             lambda o=op: py_cell(o, M4, 16), lambda o=op: c_cell(o, M4, 16), (">=", 0.9),
             needs=("python",), note="goal: the Python layer costs <= 10 %")
    pair("r/python/exist", "batch_is_exist 128 keys p50, Python / C",
         lambda: py_cell("batch_is_exist", 4096, 128), lambda: c_cell("batch_is_exist", 4096, 128),
         ("<=", 1.2), metric="p50_us", needs=("python",))
    pair("r/auth/rest", "REST GET 4 MiB, with a token (store c) / without (store a)",
         lambda: rest("c", True), lambda: rest("a"))
    pair("r/auth/get_into", "local get_into 4 MiB, with a token (store c) / without (store a)",
         lambda: c_cell("get_into", M4, store="c"), lambda: c_cell("get_into", M4))


def expected_keys(have_python=True):
    """Every row key a complete run has (tests/integration/test_bench_smoke.py)."""
    keys = [f"memcpy/1/{n}" for n in SIZES] + ["memcpy/2/4194304", "tcp/1", "tcp/2",
                                               "odirect/write", "odirect/read"]
    for client, sizes in (("c", SIZES), ("python", PY_SIZES)):
        if client == "python" and not have_python:
            keys.append("python")
            continue
        for where in ("local", "remote"):
            keys += [f"{client}/{op}/{b}/{n}/{where}" for op, b in OPS for n in sizes]
            keys.append(f"{client}/batch_is_exist/128/{where}")
    keys += [f"rest/{op}/{n}/{w}" for w in ("local", "remote") for n in PY_SIZES
             for op in ("put", "get")]
    keys += ["auth/rest/without", "auth/rest/with", "auth/get_into/without",
             "auth/get_into/with", "auth/checksum"]
    keys += [f"master/{op}/{b}" for op in ("put_start + put_end", "get_replica_list")
             for b in (1, 16, 128)]
    keys += [f"te/{op}/{c}" for op in ("READ", "WRITE") for c in (1, 2)] + ["te/plain"]
    keys += ["2role/prefill", "2role/decode"]
    for peer in ("redis", "memcached"):
        keys += [f"{peer}/{op}/{b}/{n}/1" for op in ("set", "get") for b in (1, 16, 128)
                 for n in SIZES]
        keys += [f"{peer}/get/1/{n}/4" for n in PY_SIZES]
    keys += [f"threads/{op}/{n}" for op in ("put_from", "get_into") for n in THREADS]
    keys += [f"growth/{k}/{n}" for n in GROWTH_LEVELS for k in ("get_into", "batch_is_exist",
                                                                "rss")]
    keys.append("ssd/*")  # the SSD rows: "n/a" ones, or whatever mc_ssd_bench reports
    t = Table(quiet=True)
    ratios(t)  # on an empty table: every ratio row, each n/a
    keys += [r["key"] for _, rows in t.sections for r in rows]
    return keys


# ---- the machine ----

def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // 1024
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_mib": mem,
            "kernel": platform.release(), "python": platform.python_version()}


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def git_rev():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"


def main():
    for tool in ("mooncake_master", "mooncake_store_service", "mooncake_http_metadata_server",
                 "mc_client_bench", "mc_limits_bench", "mc_peer_bench", "mc_store_bench",
                 "mc_master_bench", "mc_transfer_bench"):
        if not os.access(os.path.join(BIN, tool), os.X_OK):
            raise SystemExit(f"bench: {BIN}/{tool} missing (make build)")
    t0 = time.time()
    started = datetime.datetime.now(datetime.timezone.utc)
    load0 = loadavg()
    rundir = tempfile.mkdtemp(prefix="mc-bench-")
    os.chmod(rundir, 0o700)
    procs = Procs(rundir)
    t = Table()

    def on_signal(sig, frame):
        raise KeyboardInterrupt

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # SIGINT too: a background
        signal.signal(s, on_signal)                            # start may have it ignored
    have_py = os.access(PY, os.X_OK) and subprocess.run(
        [PY, "-c", "import mooncake.store"], capture_output=True).returncode == 0
    failed = None
    only = set(filter(None, os.environ.get("BENCH_ONLY", "").split(",")))

    def want(part):
        return not only or part in only

    try:
        if want("limits"):
            limits(t, rundir)
        cl = Cluster(procs, rundir)
        log("== starting the cluster (metadata, master, stores a, b, c) and the peers")
        cl.start()
        peers = peers_start(procs, rundir)
        if want("c"):
            store_rows(t, cl, "c", SIZES)
        if want("python") and have_py:
            store_rows(t, cl, "python", PY_SIZES)
        elif want("python"):
            t.section("Our store, Python client (mooncake.store)")
            t.text("python", "every Python row", f"n/a (no mooncake package for {PY})")
        for part, fn in (("rest", lambda: rest_rows(t, cl)), ("auth", lambda: auth_rows(t, cl)),
                         ("master", lambda: master_rows(t)), ("te", lambda: transfer_rows(t)),
                         ("ssd", lambda: ssd_rows(t, rundir)), ("2role", lambda: two_role(t, cl)),
                         ("peers", lambda: peer_rows(t, peers, procs)),
                         ("threads", lambda: threads_rows(t, cl)),
                         ("growth", lambda: growth_rows(t, cl, procs)), ("ratios", lambda: ratios(t, cl, peers, have_py))):
            if want(part):
                fn()
    except KeyboardInterrupt:
        failed = "interrupted"
    except Failed as e:
        failed = str(e)
    except Exception as e:  # a bug in the driver: still stop everything, write what we have
        import traceback
        traceback.print_exc()
        failed = f"{type(e).__name__}: {e}"
    finally:
        procs.stop_all()
    elapsed = time.time() - t0
    m = machine()
    stamp = started.strftime("%Y-%m-%d-%H%M")
    header = (f"## make bench, {started.strftime('%Y-%m-%d %H:%M UTC')}"
              f"{' (BENCH_QUICK=1)' if QUICK else ''}\n\n"
              f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_mib'] // 1024} GiB memory, "
              f"Linux {m['kernel']}. Load average (1/5/15 min) {load0} at start, {loadavg()} "
              f"at the end (the machine is shared: other work ran alongside). Commit {git_rev()}, "
              f"binaries {os.path.relpath(BIN, ROOT)}. Each cell: {RUNS} runs of {SECONDS} s, "
              f"the median with min–max over the runs, p50/p99 of one call over every run. "
              f"CRC32C checks on everywhere. Whole run {elapsed:.0f} s.\n")
    if failed:
        header += f"\n**Run incomplete: {failed}** (logs in {rundir})\n"
    text = render(t, header)
    os.makedirs(OUT, exist_ok=True)
    md = os.path.join(OUT, f"{stamp}{'-quick' if QUICK else ''}.md")
    with open(md, "w") as f:
        f.write(text)
    with open(md[:-3] + ".json", "w") as f:
        json.dump({"date": started.isoformat(), "quick": QUICK, "seconds_per_run": SECONDS,
                   "runs": RUNS, "machine": m, "load_start": load0, "load_end": loadavg(),
                   "commit": git_rev(), "elapsed_s": round(elapsed, 1), "incomplete": failed,
                   "rows": [{"section": title, "key": r["key"], "name": r["name"],
                             "value": r.get("value"), "cell": r.get("cell"),
                             "unit": r.get("unit"), "note": r["note"]}
                            for title, rows in t.sections for r in rows]}, f, indent=1)
    print(text)
    log(f"bench: wrote {md} and {os.path.basename(md[:-3])}.json in {elapsed:.0f} s")
    if not failed and not os.environ.get("BENCH_KEEP"):  # BENCH_KEEP=1: logs stay
        shutil.rmtree(rundir, ignore_errors=True)
    else:
        log(f"bench: run directory (logs) kept in {rundir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
