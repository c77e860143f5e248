#!/usr/bin/env bash
# Banned functions (curl's checksrc idea): unbounded or unchecked C calls
# that have a bounded replacement here (snprintf, mc_strlcpy, mc_parse_*).
# Prints each call as file:line:text; exit 1 when there is one, 0 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."
BANNED='sprintf|strcpy|strcat|strtok|atoi|gets'
# a call: the name not preceded by an identifier character, then '('
hits=$(git ls-files --cached --others --exclude-standard -- 'libs/*.[ch]' 'services/*.[ch]' 'clients/*.[ch]' 'tests/*.[ch]' |
  xargs -r grep -nE "(^|[^A-Za-z0-9_])($BANNED)[[:space:]]*\(" -- |
  grep -vE '^[^:]+:[0-9]+:[[:space:]]*(\*|//|/\*)')
if [ -n "$hits" ]; then
  echo "checksrc: banned functions ($BANNED); use snprintf, mc_strlcpy, mc_parse_*:"
  echo "$hits"
  exit 1
fi
exit 0
