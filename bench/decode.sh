#!/usr/bin/env bash
# decode.sh - binlog decoding speed in one run (bench/RESULTS.md section 1, "Binlog decoding"):
#
#   bench/decode.sh [--build DIR] [--dir SANDBOX_DIR] [--rows N] [--runs R] [--skip-mariadb]
#                   [--skip-stream]
#
# 1. The binlogs: with --dir, those of a sandbox kept by an earlier `bench/binlog_dump.sh --dir`
#    (DIR/workload.files: its shop.orders workload, the bulk inserts of 5,000 rows per
#    statement in one file = "multi" (multi-row events of ~8 KB), the one-row transactions in
#    the next = "one"); with a --dir that holds none yet, or without --dir (a temp dir),
#    binlog_dump.sh --generate-only --rows N (default 2,000,000) generates them first (about
#    2-5 minutes).
# 2. From the files (page cache warm), R runs each (default 3), user+sys CPU and wall time,
#    for "multi", "one" and "mixed" (both files in one run):
#      decode file --mode frame   the file source's framing only (pread into a buffer)
#      decode file --mode check   decode alone: events checksummed and decoded, row images
#                                 walked and every value checked, no JSON
#      decode file --mode json    decode + JSON key and envelope per row, no output
#    then, on mixed: decode file --mode frame --source mmap (the mapping, for comparison),
#      rowlog binlog dump FILES > /dev/null
#      mariadb-binlog --base64-output=decode-rows -v FILES > /dev/null, plain and TZ=UTC
#      (once each: minutes on this machine; --skip-mariadb leaves them out)
# 3. From the server (--skip-stream leaves it out): restarts the sandbox on the same data
#    directory and dumps each file over the replication protocol (COM_BINLOG_DUMP), R runs
#    of each mode, modes alternating:
#      decode stream --mode bare   packets read, nothing decoded
#      decode stream --mode check  + decode alone
#      decode stream --mode json   + JSON
#    and prints each mode's rate as a share of the bare rate, per file.
# Prints the load average before each measurement: the machine is shared, compare within a
# run and prefer the CPU-time rates (rows per CPU second) when others are busy.
# Environment: ROWLOG, DECODE (programs; default BUILD/tools/rowlog and BUILD/bench/decode,
# BUILD = --build, default build-rel under the repository).
# Exit status: 0, 1 on failure, 2 on a usage error.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
SANDBOX="$REPO/scripts/mariadb-sandbox.sh"

BUILD="$REPO/build-rel"
DIR=""
ROWS=2000000
RUNS=3
SKIP_MB=0
SKIP_STREAM=0

die() { echo "decode.sh: $*" >&2; exit 1; }
usage() { sed -n '4,5p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --build) [ $# -ge 2 ] || usage; BUILD=$2; shift 2 ;;
        --dir) [ $# -ge 2 ] || usage; DIR=$2; shift 2 ;;
        --rows) [ $# -ge 2 ] || usage; ROWS=$2; shift 2 ;;
        --runs) [ $# -ge 2 ] || usage; RUNS=$2; shift 2 ;;
        --skip-mariadb) SKIP_MB=1; shift ;;
        --skip-stream) SKIP_STREAM=1; shift ;;
        -h|--help) sed -n '2,35p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "decode.sh: unknown argument '$1'" >&2; usage ;;
    esac
done
case "$RUNS" in ''|*[!0-9]*|0) die "--runs takes a positive number, got '$RUNS'" ;; esac
ROWLOG=${ROWLOG:-$BUILD/tools/rowlog}
DECODE=${DECODE:-$BUILD/bench/decode}
[ -x "$ROWLOG" ] || die "rowlog not found at $ROWLOG (build the rowlog target, or set ROWLOG)"
[ -x "$DECODE" ] || die "decode not found at $DECODE (build the decode target, or set DECODE)"

if [ -z "$DIR" ]; then
    DIR=$(mktemp -d /tmp/rowlog-bench.XXXXXX)
    rmdir "$DIR"
fi
if [ ! -s "$DIR/workload.files" ]; then
    ROWLOG="$ROWLOG" "$HERE/binlog_dump.sh" --rows "$ROWS" --dir "$DIR" --generate-only
fi
MULTI=$(awk '$1 == "multi" { print $2 }' "$DIR/workload.files")
ONE=$(awk '$1 == "one" { print $2 }' "$DIR/workload.files")
[ -r "$MULTI" ] && [ -r "$ONE" ] || die "no multi and one files in $DIR/workload.files"
cat "$MULTI" "$ONE" > /dev/null

load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "==== binlog decoding: multi $MULTI ($(stat -c %s "$MULTI") bytes), one $ONE ($(stat -c %s "$ONE") bytes), $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs"
echo "---- file"
for mode in frame check json; do
    for part in multi one mixed; do
        case $part in multi) files=("$MULTI") ;; one) files=("$ONE") ;; mixed) files=("$MULTI" "$ONE") ;; esac
        for ((r = 0; r < RUNS; r++)); do
            echo "load $(load)"
            "$DECODE" file --mode "$mode" "${files[@]}" | sed "s/^RESULT /RESULT part=$part /; s/run=0/run=$r/"
        done
    done
done
echo "load $(load)"
"$DECODE" file --mode frame --source mmap --runs "$RUNS" "$MULTI" "$ONE" | sed "s/^RESULT /RESULT part=mixed /"
SIZE=$(cat "$MULTI" "$ONE" | wc -c)
rows=$("$ROWLOG" binlog dump "$MULTI" "$ONE" | wc -l)
tf=$(mktemp)
for ((r = 0; r < RUNS; r++)); do
    echo "load $(load)"
    /usr/bin/time -f '%e %U %S' -o "$tf" "$ROWLOG" binlog dump "$MULTI" "$ONE" > /dev/null
    read -r wall user sys < "$tf"
    awk -v w="$wall" -v u="$user" -v s="$sys" -v rows="$rows" -v b="$SIZE" -v r="$r" 'BEGIN {
        printf "RESULT part=mixed source=file mode=rowlog-binlog-dump run=%d rows=%d wall_s=%s cpu_s=%.2f rows_per_s=%.0f rows_per_cpu_s=%.0f MB_per_s=%.1f\n",
               r, rows, w, u + s, rows / w, rows / (u + s), b / 1e6 / w }'
done
if [ "$SKIP_MB" -eq 0 ]; then
    for tz in plain UTC; do
        echo "load $(load)"
        if [ "$tz" = UTC ]; then
            TZ=UTC /usr/bin/time -f '%e %U %S' -o "$tf" mariadb-binlog --base64-output=decode-rows -v "$MULTI" "$ONE" > /dev/null
        else
            /usr/bin/time -f '%e %U %S' -o "$tf" mariadb-binlog --base64-output=decode-rows -v "$MULTI" "$ONE" > /dev/null
        fi
        read -r wall user sys < "$tf"
        awk -v w="$wall" -v u="$user" -v s="$sys" -v rows="$rows" -v b="$SIZE" -v tz="$tz" 'BEGIN {
            printf "RESULT part=mixed source=file mode=mariadb-binlog-%s run=0 rows=%d wall_s=%s cpu_s=%.2f rows_per_s=%.0f rows_per_cpu_s=%.0f MB_per_s=%.1f\n",
                   tz, rows, w, u + s, rows / w, rows / (u + s), b / 1e6 / w }'
    done
fi
rm -f "$tf"
[ "$SKIP_STREAM" -eq 0 ] || exit 0

echo "---- stream"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() { "$SANDBOX" stop "$DIR" > /dev/null 2>&1 || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM
"$SANDBOX" start "$DIR" "$port" >&2
URL="mysql://rowlog:rowlogpw@127.0.0.1:$port"
# Alternate the modes run by run so load changes hit all three alike.
out=$(mktemp)
for part in multi one; do
    if [ $part = multi ]; then f=$MULTI; else f=$ONE; fi
    for ((r = 0; r < RUNS; r++)); do
        for mode in bare check json; do
            echo "load $(load)"
            "$DECODE" stream --url "$URL" --file "$(basename "$f")" --until "$(stat -c %s "$f")" --mode "$mode" |
                sed "s/^RESULT /RESULT part=$part /; s/run=0/run=$r/" | tee -a "$out"
        done
    done
done
awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
       key = f["part"] " " f["mode"]; ev[key] += f["events_per_s"]; cpu[key] += f["cpu_s"]; n[key]++
       rows[key] = f["rows"] }
     END { for (k in ev) { split(k, pm, " ")
               printf "stream %-5s %-5s mean events/s %.0f (%.0f%% of bare), mean CPU s %.3f, rows %d\n",
                      pm[1], pm[2], ev[k] / n[k], 100 * ev[k] / ev[pm[1] " bare"], cpu[k] / n[k], rows[k] } }' "$out" | sort
rm -f "$out"
