#!/usr/bin/env bash
# Installs, builds and runs the demo: a throwaway MariaDB, rowlogd capturing it, a short
# workload, and `rowlog tail` printing the change events as they arrive. Stops everything it
# started when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
exec bash scripts/demo.sh
