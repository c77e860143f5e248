#!/usr/bin/python3
"""Profiles one bench cell: starts the cluster of bench/run.py, runs the
cell for --seconds (one run) while `perf record -g` samples a process of
the cluster, and prints the top of `perf report` for it (self time, by
symbol) and the cell's JSON line. docs/performance.md cites these profiles.

  bench/profile.py [--target=store-a|store-b|master] [--seconds=3] [--top=25]
                   CELL-PROGRAM-ARGS...

CELL-PROGRAM-ARGS: the arguments of a cell, e.g.
  mc_client_bench --cell=batch_get_into --size=4096 --batch=128 --where=local
  mc_store_bench --sizes=4194304          (REST GET/PUT through store a)
The socket and segment arguments are added. Needs perf (linux-perf)."""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402


def main():
    opts = {"target": "store-a", "seconds": "3", "top": "25"}
    rest = []
    for a in sys.argv[1:]:
        k = a[2:].split("=", 1)[0] if a.startswith("--") else ""
        if k in opts and "=" in a and not rest:
            opts[k] = a.split("=", 1)[1]
        else:
            rest.append(a)
    if not rest:
        raise SystemExit(__doc__)
    rundir = tempfile.mkdtemp(prefix="mc-prof-")
    procs = run.Procs(rundir)
    cl = run.Cluster(procs, rundir)
    try:
        cl.start()
        a, b = cl.stores["a"], cl.stores["b"]
        prog = os.path.join(run.BIN, rest[0])
        if rest[0] == "mc_store_bench":
            args = [prog, f"--url={a['rest']}", f"--seg={a['seg']}", "--threads=4",
                    f"--seconds={opts['seconds']}", *rest[1:]]
        else:
            args = [prog, f"--a={a['sock']}", f"--seg_a={a['seg']}", f"--seg_b={b['seg']}",
                    f"--seconds={opts['seconds']}", "--runs=1", *rest[1:]]
        target = {"store-a": a["proc"], "store-b": b["proc"], "master": cl.master}[opts["target"]]
        data = os.path.join(rundir, "perf.data")
        perf = subprocess.Popen(["perf", "record", "-g", "-o", data, "-p", str(target.pid)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out = subprocess.run(args, capture_output=True, text=True, timeout=600)
        perf.send_signal(2)
        perf.wait(60)
        print(out.stdout.strip())
        rep = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "symbol",
                              "--stdio", "-g", "none", "--percent-limit", "0.5"],
                             capture_output=True, text=True).stdout
        lines = [x for x in rep.splitlines() if x.strip() and not x.startswith("#")]
        print(f"-- {opts['target']} (pid {target.pid}), self time by symbol:")
        print("\n".join(lines[:int(opts["top"])]))
    finally:
        procs.stop_all()
        shutil.rmtree(rundir, ignore_errors=True)


if __name__ == "__main__":
    main()
