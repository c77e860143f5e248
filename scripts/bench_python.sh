#!/usr/bin/env bash
# The Python layer's cost: clients/python/bench/bench_store.py and the same
# calls from C (mc_client_bench --only=python) against one store service on
# loopback, in the same run, printed side by side with Python / C ratios.
#   scripts/bench_python.sh [BUILD_DIR] [--seconds=N]
# Needs the mooncake package in a venv (make test creates $BUILD_DIR/venv);
# MC_PYTHON overrides the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build/release}
[ $# -gt 0 ] && shift
SECS=1
for a in "$@"; do case $a in --seconds=*) SECS=${a#--seconds=} ;; esac; done
BIN=$BUILD/bin
PY=${MC_PYTHON:-$BUILD/venv/bin/python}
[ "$BUILD" = build/release ] && make -s build >/dev/null
[ -x "$BIN/mc_client_bench" ] || { echo "build first: $BIN/mc_client_bench" >&2; exit 1; }
"$PY" -c 'import mooncake.store' 2>/dev/null ||
  { echo "no mooncake package for $PY (run make test, or set MC_PYTHON)" >&2; exit 1; }
# shellcheck source=scripts/bench_cluster.sh
. scripts/bench_cluster.sh
bench_cluster_start "$BIN" 1536MB
echo "== Python vs C on one store service ($(nproc) cpus, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), ${SECS} s x 3 per cell) =="
"$BIN/mc_client_bench" --a="${SOCK[a]}" --only=python --seconds="$SECS" >"$dir/c.md"
"$PY" clients/python/bench/bench_store.py --attach="${SOCK[a]}" "$SECS" >"$dir/py.md"
/usr/bin/python3 - "$dir/c.md" "$dir/py.md" <<'PYEOF'
import sys
def rows(path):
    out = {}
    for line in open(path):
        f = [x.strip() for x in line.strip().strip("|").split("|")]
        if len(f) >= 3 and f[0] not in ("op", "---"):
            try:
                out[f[0]] = (float(f[1]), float(f[2]))
            except ValueError:
                pass
    return out
c, py = rows(sys.argv[1]), rows(sys.argv[2])
print("| op | C GB/s | Python GB/s | Python / C | C p50 us | Python p50 us | p50 Python / C |")
print("|---|---|---|---|---|---|---|")
for op, (cg, cl) in c.items():
    if op not in py:
        continue
    pg, pl = py[op]
    ratio = f"{pg / cg:.2f}" if cg > 0 else "-"
    print(f"| {op} | {cg:.2f} | {pg:.2f} | {ratio} | {cl:.0f} | {pl:.0f} | {pl / cl:.2f} |")
PYEOF
