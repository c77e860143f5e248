# The two commands: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
RELEASE_DIR := build/release

.PHONY: run test setup build tsan test-plain clean docs bench

run: build
	@scripts/run.sh

test:
	@scripts/test.sh

setup:
	@scripts/setup.sh

build: setup
	@cmake -S . -B $(RELEASE_DIR) -DCMAKE_BUILD_TYPE=Release -DMC_BUILD_TESTS=OFF >/dev/null
	@cmake --build $(RELEASE_DIR) -j$(JOBS) -- --no-print-directory | grep -Ev '^\[ *[0-9]+%\]'; exit $${PIPESTATUS[0]}

# The suite under ThreadSanitizer (make test runs it under ASan+UBSan).
tsan:
	@SANITIZE=thread scripts/test.sh

# The suite on a plain (unsanitized) build.
test-plain:
	@SANITIZE=none scripts/test.sh

# The performance table (docs/performance.md): bench/results/<date>.md and .json.
# BENCH_QUICK=1 make bench: the same rows with shorter cells (< 2 minutes).
bench:
	@scripts/bench.sh

# Regenerates the flag tables in docs/ from the binaries' --help_markdown.
docs: build
	@scripts/gen_docs.sh $(RELEASE_DIR)/bin

clean:
	rm -rf build run
