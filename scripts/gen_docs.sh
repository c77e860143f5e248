#!/usr/bin/env bash
# Rewrites the flag table of each service doc (between <!-- flags:begin -->
# and <!-- flags:end -->) from the binary's --help_markdown. A test checks the
# docs against the binaries, so run this (make docs) after changing a table.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN_DIR=${1:-build/release/bin}
for pair in mooncake_master:docs/master.md mooncake_http_metadata_server:docs/metadata.md \
            mooncake_store_service:docs/store-service.md; do
  bin=${pair%%:*} doc=${pair#*:}
  [ -f "$doc" ] || continue
  /usr/bin/python3 - "$doc" "$("$BIN_DIR/$bin" --help_markdown)" <<'PY'
import re, sys
doc, table = sys.argv[1], sys.argv[2]
text = open(doc).read()
new = re.sub(r"(<!-- flags:begin -->\n).*?(<!-- flags:end -->)",
             lambda m: m.group(1) + table.rstrip("\n") + "\n" + m.group(2), text, flags=re.S)
open(doc, "w").write(new)
PY
done
