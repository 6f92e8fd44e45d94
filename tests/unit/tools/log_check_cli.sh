#!/usr/bin/env bash
# `rowlog log check` end to end on the CLI: a real log written by rowlog's log store is
# clean; one flipped byte in its last batch is reported with the file and offset and exit 1;
# --repair cuts it and the check is clean again. Usage: log_check_cli.sh ROWLOG LOGFILL
set -euo pipefail
ROWLOG=$1 LOGFILL=$2
d=$(mktemp -d /tmp/rowlog-logcheck.XXXXXX)
trap 'rm -rf "$d"' EXIT
"$LOGFILL" "$d/log"
"$ROWLOG" log check "$d/log" || { echo "FAIL: fresh log not clean"; exit 1; }
seg=$d/log/t-0/00000000000000000000.log
size=$(stat -c %s "$seg")
# Flip one byte near the end of the last batch (inside its records, covered by its CRC32C).
pos=$((size - 3))
b=$(od -An -tu1 -j "$pos" -N1 "$seg" | tr -d ' ')
printf "$(printf '\\%03o' $(( (b ^ 0xff) & 0xff )))" | dd of="$seg" bs=1 seek="$pos" conv=notrunc status=none
set +e
out=$("$ROWLOG" log check "$d/log" 2>&1); rc=$?
set -e
[ "$rc" -eq 1 ] || { echo "FAIL: damaged log: exit $rc, expected 1: $out"; exit 1; }
grep -q "00000000000000000000.log" <<<"$out" || { echo "FAIL: file not named: $out"; exit 1; }
"$ROWLOG" log check --repair "$d/log" >/dev/null 2>&1 || true
"$ROWLOG" log check "$d/log" || { echo "FAIL: repaired log not clean"; exit 1; }
echo "PASS"
