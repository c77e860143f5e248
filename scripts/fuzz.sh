#!/usr/bin/env bash
# Bounded libFuzzer run of every fuzz target (tests/fuzz).
#
# Configures a separate build dir with clang and -DMC_FUZZ=ON, builds the
# `fuzz` target, then runs each fuzz-bin/fuzz_<name> for FUZZ_SECONDS
# (default 20) from the seeds in tests/fuzz/corpus/<name>/. New inputs go to
# a scratch corpus in the build dir, never into the tree; crash inputs to
# $BUILD_DIR/artifacts/.
# Exit: 0 all clean, 1 build error or crash, 77 clang (or libFuzzer) missing.
# Env: FUZZ_SECONDS, FUZZ_BUILD_DIR (default build-fuzz), CC (default clang).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SECONDS_EACH=${FUZZ_SECONDS:-20}
BUILD_DIR=${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
CC_FUZZ=${CC:-clang}
case $CC_FUZZ in *clang*) ;; *) CC_FUZZ=clang ;; esac

if ! command -v "$CC_FUZZ" >/dev/null 2>&1; then
  echo "fuzz: skipped ($CC_FUZZ not found)"
  exit 77
fi
# clang without the libFuzzer runtime (libclang-rt-*-dev) cannot link targets.
probe=$(mktemp -d)
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n);\n'\
'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' >"$probe/p.c"
if ! "$CC_FUZZ" -fsanitize=fuzzer,address "$probe/p.c" -o "$probe/p" >/dev/null 2>&1; then
  rm -rf "$probe"
  echo "fuzz: skipped ($CC_FUZZ cannot link -fsanitize=fuzzer; install libclang-rt-dev)"
  exit 77
fi
rm -rf "$probe"

CC=$CC_FUZZ cmake -S . -B "$BUILD_DIR" -DMC_FUZZ=ON -DMC_BUILD_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || { echo "fuzz: configure failed"; exit 1; }
cmake --build "$BUILD_DIR" --target fuzz -j"$(nproc)" -- --no-print-directory 2>&1 |
  grep -Ev '^\[ *[0-9]+%\]'
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "fuzz: build failed"; exit 1; }

mkdir -p "$BUILD_DIR/artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
found=0
for bin in "$BUILD_DIR"/fuzz-bin/fuzz_*; do
  [ -x "$bin" ] || continue
  found=1
  name=$(basename "$bin")
  seeds=tests/fuzz/corpus/${name#fuzz_}
  work=$BUILD_DIR/corpus/${name#fuzz_}
  mkdir -p "$work"
  echo "fuzz: $name for ${SECONDS_EACH}s"
  # Each corpus dir must exist; the first one receives new inputs.
  [ -d "$seeds" ] || seeds=$work
  "$bin" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$BUILD_DIR/artifacts/$name-" "$work" "$seeds" \
    >"$BUILD_DIR/$name.log" 2>&1
  rc=$?
  if [ $rc -ne 0 ]; then
    echo "fuzz: $name FAILED (exit $rc); log: $BUILD_DIR/$name.log"
    tail -n 40 "$BUILD_DIR/$name.log"
    status=1
  else
    grep -E '^stat::number_of_executed_units|^Done' "$BUILD_DIR/$name.log" | tr '\n' ' '
    echo
  fi
done
[ $found -eq 1 ] || { echo "fuzz: no targets built"; exit 1; }
exit $status
