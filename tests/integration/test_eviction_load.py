"""Eviction under a read-what-you-write load (issue #16, Mooncake #2187).

Two store services of 96 MiB, the master's default 5 s read leases, 4 writer
threads putting 1 MiB objects through the REST API; each writer reads its own
object back at once and then a random older one, so nearly every object is
leased. The master must keep accepting puts by evicting leased (unheld)
objects, never evict an object younger than the minimum residency R, and
keep the pool full. Bounded: LOAD_SECONDS of load, every request timed out.

Env: MC_EVICT_LOAD_SECONDS (default 12) shortens or lengthens the run;
MC_EVICT_MASTER_ARGS adds master flags (e.g. --min_residency_ms=250)."""
import http.client
import os
import random
import re
import threading
import time
import urllib.parse

from conftest import auth_headers, request, not_under_tsan

MiB = 1 << 20
SEG = "--global_segment_size=96MB"
LOAD_SECONDS = float(os.environ.get("MC_EVICT_LOAD_SECONDS", "12"))
WARMUP_SECONDS = 3.0  # the pool fills (192 objects) well before this
WRITERS = 4
MASTER_ARGS = os.environ.get("MC_EVICT_MASTER_ARGS", "").split()
# the master's --min_residency_ms (default 100): no acknowledged put may read
# back as a miss sooner than this after its PUT was sent
RESIDENCY_MS = int(next((a.split("=", 1)[1] for a in MASTER_ARGS
                         if a.startswith("--min_residency_ms=")), "100"))


def q(key):
    return urllib.parse.quote(key, safe="")


class Conn:
    """One keep-alive connection to a store's REST API."""

    def __init__(self, port):
        self.port = port
        self.c = None

    def call(self, method, key, body=None):
        for attempt in range(2):
            if self.c is None:
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                self.c.request(method, f"/api/v1/objects/{q(key)}", body=body,
                               headers=auth_headers())
                r = self.c.getresponse()
                return r.status, r.read()
            except (http.client.HTTPException, OSError):
                self.c.close()
                self.c = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


def metrics(master):
    text = request("GET", master.metrics_url + "/metrics").text
    return {k: float(v) for k, v in re.findall(r"^(mc_master_\w+) ([0-9.e+]+)$", text, re.M)}


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.puts = {}  # status -> count
        self.acked = []  # (key, put sent at)
        self.young_misses = []  # (key, ms from put sent to the 404)
        self.wrong_bytes = 0
        self.own_misses = 0
        self.older_hits = self.older_misses = 0


def value_of(key, pad):
    head = key.encode().ljust(64, b"\0")
    return head + pad[: MiB - len(head)]


PADS = [os.urandom(MiB) for _ in range(WRITERS)]  # writer w's values end with PADS[w]


def writer(w, port, stats, stop):
    conn = Conn(port)
    rnd = random.Random(w)
    pad = PADS[w]
    i = 0
    while not stop.is_set():
        key = f"load-w{w}-{i}"
        i += 1
        value = value_of(key, pad)
        sent = time.monotonic()
        st, _ = conn.call("PUT", key, value)
        with stats.lock:
            stats.puts[st] = stats.puts.get(st, 0) + 1
        if st != 200:
            continue
        with stats.lock:
            stats.acked.append((key, sent))
            older = stats.acked[rnd.randrange(len(stats.acked))]
        for k, k_sent, own in ((key, sent, True), (older[0], older[1], False)):
            st, body = conn.call("GET", k)
            age_ms = (time.monotonic() - k_sent) * 1000
            with stats.lock:
                if st == 200:
                    if body != value_of(k, PADS[int(k.split("-")[1][1:])]):
                        stats.wrong_bytes += 1
                    if not own:
                        stats.older_hits += 1
                elif st == 404:
                    if age_ms < RESIDENCY_MS:
                        stats.young_misses.append((k, round(age_ms, 1)))
                    if own:
                        stats.own_misses += 1
                    else:
                        stats.older_misses += 1
                else:
                    raise AssertionError(f"GET {k}: {st} {body[:200]!r}")


@not_under_tsan
def test_read_own_then_older_keeps_puts_flowing(cluster):
    meta = cluster.metadata()
    master = cluster.master(*MASTER_ARGS)  # default leases (5 s) and residency
    stores = [cluster.store(master, meta, SEG) for _ in range(2)]
    stats, stop = Stats(), threading.Event()
    threads = [threading.Thread(target=writer, args=(w, stores[w % 2].port, stats, stop))
               for w in range(WRITERS)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    util = []  # live bytes / capacity, sampled after the warm-up
    while time.monotonic() - t0 < LOAD_SECONDS and all(t.is_alive() for t in threads):
        time.sleep(0.2)
        if time.monotonic() - t0 >= WARMUP_SECONDS:
            mt = metrics(master)
            cap = mt.get("mc_master_capacity_bytes", 0)
            live = mt.get("mc_master_allocated_bytes", 0) - mt.get("mc_master_retired_bytes", 0)
            if cap:
                util.append(live / cap)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    total = sum(stats.puts.values())
    ok = stats.puts.get(200, 0)
    mean_util = sum(util) / len(util) if util else 0.0
    summary = (f"puts={total} ok={ok} ({100.0 * ok / max(total, 1):.1f}%) "
               f"statuses={stats.puts} own_misses={stats.own_misses} "
               f"young_misses={len(stats.young_misses)} {stats.young_misses[:5]} "
               f"older hits/misses={stats.older_hits}/{stats.older_misses} "
               f"live utilisation mean={mean_util:.3f} min={min(util, default=0):.3f} "
               f"samples={len(util)}")
    print(summary)
    assert set(stats.puts) <= {200, 507}, summary
    assert stats.wrong_bytes == 0, summary
    assert not stats.young_misses, summary
    assert ok >= 0.9 * total, summary
    assert util and mean_util >= 0.9, summary
