#!/usr/bin/env bash
# Installs the dependencies (scripts/install-deps.sh) and builds rowlog into build/ with
# warnings as errors. Usage: scripts/build.sh [extra cmake -D options]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DRL_WERROR=ON "$@"
cmake --build build -j"$(nproc)"
