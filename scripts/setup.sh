#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build, run and test the
# project. Idempotent: when everything is present it only runs dpkg-query.
# Uses sudo only when not root. Extra packages: MC_SETUP_EXTRA="pkg1 pkg2".
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config curl ca-certificates
  libmicrohttpd-dev libcurl4-openssl-dev libcjson-dev libibverbs-dev uuid-dev
  libcriterion-dev
  libpcre2-dev # master: bounded regex matching (remove_by_regex)
  libssl-dev # transport: HMAC for the data-plane handshake (libcrypto)
  python3 python3-pytest
  python3-dev python3-venv python3-setuptools python3-pip python3-numpy # clients/python
  clang libclang-rt-14-dev
  clang-format-14 # scripts/checkformat.sh: the pinned formatter
  clang-19 # scripts/threadsafety.sh: guarded_by on C struct members needs clang >= 19
  redis-server memcached # make bench (bench/run.py): the peers, measured in the same run
  docker-compose yamllint python3-yaml nodejs # tests/deploy: compose config, lint, manifests
)
# tests/deploy validates the k8s manifests with npm packages (npm ci from a
# lockfile); a nodejs that bundles npm (NodeSource's) needs no Debian npm.
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)
# shellcheck disable=SC2206
PACKAGES+=(${MC_SETUP_EXTRA:-})

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done" >&2
