#!/usr/bin/env bash
# Clang's thread-safety analysis over the locked code: for every translation
# unit of services/master, services/metadata, services/store, libs/common and
# libs/transport/src in a build's compile_commands.json, runs
#   clang -fsyntax-only -Wthread-safety -Werror=thread-safety
# with that unit's defines and include paths (no object files, no second
# build). The annotations are in libs/common/include/mc/thread.h.
# Usage: scripts/threadsafety.sh [BUILD_DIR]   (default build/dev; env MC_CLANG)
# Exit 0 when clean, 1 on findings (printed), 77 when no clang >= 19 is found
# (field guards on C struct members need clang 19).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=${1:-$ROOT/build/dev}
DB=$BUILD_DIR/compile_commands.json
PY=/usr/bin/python3

clang_major() { "$1" -dumpversion 2>/dev/null | cut -d. -f1; }
CLANG=${MC_CLANG:-}
if [ -z "$CLANG" ]; then
  for c in clang-22 clang-21 clang-20 clang-19 clang; do
    command -v "$c" >/dev/null || continue
    v=$(clang_major "$c")
    if [ -n "$v" ] && [ "$v" -ge 19 ]; then CLANG=$c; break; fi
  done
fi
if [ -z "$CLANG" ]; then
  echo "threadsafety: no clang >= 19 found (install clang-19, or set MC_CLANG)"
  exit 77
fi
[ -s "$DB" ] || { echo "threadsafety: $DB missing (configure $BUILD_DIR first)"; exit 1; }

# One line per unit, tab-separated: its directory, the file, then the flags
# kept from its command (defines, include paths, -std); every warning flag of
# the gcc build is dropped (so no gcc-only flag reaches clang), and only
# the thread-safety group is enabled.
units=$("$PY" - "$DB" "$ROOT" <<'EOF'
import json, os, shlex, sys
db, root = sys.argv[1], sys.argv[2]
dirs = ("services/master/", "services/metadata/", "services/store/",
        "libs/common/", "libs/transport/src/")
seen = set()
for e in json.load(open(db)):
    f = os.path.normpath(os.path.join(e["directory"], e["file"]))
    rel = os.path.relpath(f, root)
    if not rel.startswith(dirs) or not rel.endswith(".c") or rel in seen:
        continue
    seen.add(rel)
    args = e.get("arguments") or shlex.split(e["command"])
    keep, i = [], 1
    while i < len(args):
        a = args[i]
        if a in ("-I", "-isystem", "-iquote", "-include", "-D", "-U"):
            keep += [a, args[i + 1]]
            i += 2
            continue
        if a.startswith(("-I", "-D", "-U", "-std=", "-isystem", "-iquote")):
            keep.append(a)
        i += 1
    print("\t".join([e["directory"], f] + keep))
EOF
) || { echo "threadsafety: cannot read $DB"; exit 1; }

out=$(printf '%s\n' "$units" | while IFS= read -r line; do
  IFS=$'\t' read -r -a u <<<"$line"
  (cd "${u[0]}" && "$CLANG" -fsyntax-only -ferror-limit=0 -Wno-everything -Wthread-safety \
    -Werror=thread-safety "${u[@]:2}" "${u[1]}" 2>&1) || echo "threadsafety: FAILED ${u[1]}"
done)
n=$(printf '%s\n' "$units" | grep -c .)
if printf '%s' "$out" | grep -q "threadsafety: FAILED"; then
  printf '%s\n' "$out"
  echo "threadsafety: findings in $(printf '%s' "$out" | grep -c 'threadsafety: FAILED') of $n units ($CLANG)"
  exit 1
fi
[ -n "$out" ] && printf '%s\n' "$out"
echo "threadsafety: $n units clean ($CLANG)"
exit 0
