#!/usr/bin/env bash
# Installs the Debian packages tollgate needs to build (and, with --test, --bench or
# --fuzz, to test, benchmark or fuzz it), only those missing; uses sudo when not root.
# Idempotent and quiet when everything is present.
set -euo pipefail
build_pkgs=(build-essential cmake pkg-config libh2o-evloop-dev libcurl4-openssl-dev
  libcjson-dev libyaml-dev libsqlite3-dev libssl-dev libcsv-dev)
test_pkgs=(libcmocka-dev sqlite3 nodejs npm prometheus) # prometheus: promtool checks /metrics
bench_pkgs=(nginx-light wrk sqlite3 python3 valgrind)
fuzz_pkgs=(clang libclang-rt-14-dev)
pkgs=("${build_pkgs[@]}")
for arg in "$@"; do
  case $arg in
    --test) pkgs+=("${test_pkgs[@]}") ;;
    --bench) pkgs+=("${bench_pkgs[@]}") ;;
    --fuzz) pkgs+=("${fuzz_pkgs[@]}") ;;
    *) echo "usage: install-deps.sh [--test] [--bench] [--fuzz]" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  # node/npm may come from outside Debian (nodesource, nvm): accept the commands.
  case $p in
    nodejs) command -v node >/dev/null && continue ;;
    npm) command -v npm >/dev/null && continue ;;
    nginx-light) command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
