#!/usr/bin/env bash
# Formatting check: every C file as .clang-format (pinned to Debian 12's
# clang-format-14; other versions format differently). Prints the files that
# differ and how to fix them; exit 1 when one does, 77 when clang-format-14
# is missing, 0 otherwise. `scripts/checkformat.sh --fix` reformats in place.
set -uo pipefail
cd "$(dirname "$0")/.."
CF=${CLANG_FORMAT:-clang-format-14}
command -v "$CF" >/dev/null || { echo "checkformat: $CF not found"; exit 77; }
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- \
  'libs/*.[ch]' 'services/*.[ch]' 'clients/*.[ch]' 'tests/*.[ch]')
if [ "${1:-}" = "--fix" ]; then
  "$CF" -i "${files[@]}"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  "$CF" --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "checkformat: not formatted as .clang-format (run scripts/checkformat.sh --fix):"
  printf '  %s\n' "${bad[@]}"
  exit 1
fi
exit 0
