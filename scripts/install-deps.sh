#!/usr/bin/env bash
# Installs every Debian 12 package rowlog needs to build, run its demo and run its tests.
# Safe to run again: apt-get install is idempotent. Needs root (or sudo).
set -euo pipefail
PKGS=(build-essential cmake pkg-config
      libmariadb-dev liblz4-dev libzstd-dev libev-dev zlib1g-dev librdkafka-dev
      libcmocka-dev libinih-dev libdeflate-dev
      libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev
      mariadb-server mariadb-client kcat python3 hyperfine prometheus clang)
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all packages present"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends "${PKGS[@]}"
