#!/usr/bin/env bash
# Installs, builds and runs the whole test suite (unit + integration with a real MariaDB,
# kcat and librdkafka). This is what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
cd build
ctest --output-on-failure -j2 --timeout 900
