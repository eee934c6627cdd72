#!/usr/bin/env bash
# Installs the Debian packages tollgate needs to build (and, with --test, to test and
# benchmark), only those missing; uses sudo when not root. Idempotent and quiet when
# everything is present.
set -euo pipefail
build_pkgs=(build-essential cmake pkg-config libh2o-evloop-dev libcurl4-openssl-dev
  libcjson-dev libyaml-dev libsqlite3-dev libssl-dev libcsv-dev)
test_pkgs=(libcmocka-dev sqlite3 nodejs npm nginx-light wrk redis-server libhiredis-dev
  postgresql libpq-dev prometheus clang libclang-rt-14-dev)
pkgs=("${build_pkgs[@]}")
[ "${1:-}" = "--test" ] && pkgs+=("${test_pkgs[@]}")

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
