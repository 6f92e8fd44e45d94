#!/usr/bin/env bash
# snapshot.sh - how fast does rowlogd snapshot a table, next to mariadb-dump?
#
#   bench/snapshot.sh [--rows N] [--chunk-rows N] [--rowlogd PATH]... [--repeat N] [--keep]
#
# 1. Starts a throwaway MariaDB (scripts/mariadb-sandbox.sh: temp dir under /tmp, a free port,
#    stopped by PID at the end) and fills bench.t with N rows (default 5,000,000) from
#    MariaDB's SEQUENCE engine: id INT primary key, a BIGINT, a DECIMAL(12,2), a VARCHAR(40),
#    a DATETIME(6), an INT.
# 2. In one run, against the same server and table:
#      rowlogd --snapshot initial-only --snapshot-chunk-rows C (default 10000) into a fresh
#        data dir (lz4, --flush commit): from process start to exit 0, i.e. connect, snapshot,
#        render every row to the decoder's JSON, append and fsync the log;
#      mariadb-dump --single-transaction bench t > /dev/null (as the same rowlog user).
#    The snapshot's record count is read from its log line and must equal N.
# 3. Prints rows/s for both and the ratio, the snapshot's own span from rowlogd's log
#    ("snapshot: new" to "snapshot: complete": without process start and store open), the CPU
#    seconds of each client and of the server during each, and the load average before each.
#    With several --rowlogd (builds to compare) and --repeat N, the table is filled once and
#    the measurement (rowlogd, then mariadb-dump) runs N times per build, alternating the
#    builds (A B A B ...), each run on a fresh data dir; "run" lines name the build.
# Environment: ROWLOGD (default: the first build*/server/rowlogd under the repository).
# Exit status: 0, 1 on failure, 2 on a usage error.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SANDBOX="$ROOT/scripts/mariadb-sandbox.sh"
ROWS=5000000
CHUNK=10000
KEEP=0
REPEAT=1
BINS=()
while [ $# -gt 0 ]; do
    case "$1" in
    --rows) ROWS=$2; shift 2 ;;
    --chunk-rows) CHUNK=$2; shift 2 ;;
    --rowlogd) BINS+=("$2"); shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) echo "usage: $0 [--rows N] [--chunk-rows N] [--rowlogd PATH]... [--repeat N] [--keep]" >&2
       exit 2 ;;
    esac
done
if [ ${#BINS[@]} -eq 0 ]; then
    if [ -n "${ROWLOGD:-}" ]; then
        BINS=("$ROWLOGD")
    else
        for d in "$ROOT"/build*/server/rowlogd; do
            [ -x "$d" ] && { BINS=("$d"); break; }
        done
    fi
fi
for b in "${BINS[@]}"; do
    [ -x "$b" ] || { echo "no rowlogd at '$b' (build it, or --rowlogd PATH)" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/rl-bench-snapshot.XXXXXX)
cleanup() {
    "$SANDBOX" stop "$WORK/db" > /dev/null 2>&1
    if [ "$KEEP" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
die() { echo "FAIL: $*" >&2; exit 1; }

read -r DBPORT KPORT < <(python3 -c '
import socket
a, b = socket.socket(), socket.socket()
a.bind(("127.0.0.1", 0)); b.bind(("127.0.0.1", 0))
print(a.getsockname()[1], b.getsockname()[1])')
"$SANDBOX" start "$WORK/db" "$DBPORT" > /dev/null || die "sandbox start"
sql() { "$SANDBOX" sql "$WORK/db" "$@"; }
echo "filling bench.t with $ROWS rows..."
t0=$(date +%s.%N)
sql << EOF || die "fill"
CREATE DATABASE bench;
USE bench;
CREATE TABLE bench.t (id INT PRIMARY KEY, a BIGINT NOT NULL, p DECIMAL(12,2) NOT NULL,
                      s VARCHAR(40) NOT NULL, d DATETIME(6) NOT NULL, n INT) ENGINE=InnoDB;
INSERT INTO bench.t SELECT seq, seq * 7919, seq / 100, CONCAT('customer-', seq),
    '2026-01-01 00:00:00' + INTERVAL seq SECOND, IF(seq % 10 = 0, NULL, seq % 1000)
    FROM seq_1_to_$ROWS;
EOF
echo "filled in $(python3 -c "print(round($(date +%s.%N) - $t0, 1))") s"

# CPU seconds (user + system) of a process from /proc/PID/stat; of this shell's waited-for
# children (rowlogd, mariadb-dump, all their threads) from bash's `times`.
SRV_PID=$(tr -dc '0-9' < "$WORK/db/mdb.pid")
proc_cpu() {
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' \
        "/proc/$1/stat"
}
children_cpu() { # in this shell (not $(...)): sets CCPU
    times > "$WORK/times"
    CCPU=$(sed -n 2p "$WORK/times" | awk '{ gsub(/[ms]/, " "); split($0, a, " ");
        printf "%.2f", a[1] * 60 + a[2] + a[3] * 60 + a[4] }')
}
run_one() {  # ROWLOGD
    local ROWLOGD=$1
    rm -rf "$WORK/data"
    LOAD0=$(cut -d' ' -f1 /proc/loadavg)
    s0=$(proc_cpu "$SRV_PID"); children_cpu; c0=$CCPU
    t0=$(date +%s.%N)
    "$ROWLOGD" --source "mysql://rowlog:rowlogpw@127.0.0.1:$DBPORT" --data-dir "$WORK/data" \
        --listen "127.0.0.1:$KPORT" --http off --snapshot initial-only \
        --snapshot-chunk-rows "$CHUNK" --include 'bench\.t' > "$WORK/rowlogd.log" 2>&1 ||
        die "rowlogd: $(tail -n 5 "$WORK/rowlogd.log")"
    t1=$(date +%s.%N)
    s1=$(proc_cpu "$SRV_PID"); children_cpu; c1=$CCPU
    got=$(sed -n 's/.*snapshot: complete, \([0-9]*\) records this run.*/\1/p' "$WORK/rowlogd.log")
    [ "$got" = "$ROWS" ] || die "rowlogd snapshot wrote $got records, want $ROWS"
    DISK=$(du -sb "$WORK/data" | cut -f1)
    # The snapshot's own span from rowlogd's log (first table row read to the last commit).
    SPAN=$(python3 - "$WORK/rowlogd.log" << 'EOF2'
import re, sys, datetime
ts = {}
for line in open(sys.argv[1]):
    for key in ("snapshot: new", "snapshot: complete"):
        if key in line and key not in ts:
            ts[key] = datetime.datetime.strptime(line[:23], "%Y-%m-%dT%H:%M:%S.%f")
print("%.2f" % (ts["snapshot: complete"] - ts["snapshot: new"]).total_seconds())
EOF2
    )

    LOAD1=$(cut -d' ' -f1 /proc/loadavg)
    s2=$(proc_cpu "$SRV_PID"); children_cpu; c2=$CCPU
    t2=$(date +%s.%N)
    mariadb-dump --no-defaults -h127.0.0.1 -P"$DBPORT" -urowlog -prowlogpw --single-transaction \
        bench t > /dev/null 2> "$WORK/dump.err" || die "mariadb-dump: $(cat "$WORK/dump.err")"
    t3=$(date +%s.%N)
    s3=$(proc_cpu "$SRV_PID"); children_cpu; c3=$CCPU

    python3 - "$ROWS" "$t0" "$t1" "$t2" "$t3" "$DISK" "$CHUNK" "$SPAN" "$s0" "$s1" "$s2" "$s3" \
        "$c0" "$c1" "$c2" "$c3" "$LOAD0" "$LOAD1" << 'EOF'
import sys
rows = int(sys.argv[1]); t0, t1, t2, t3 = map(float, sys.argv[2:6]); disk = int(sys.argv[6])
span = float(sys.argv[8])
s0, s1, s2, s3, c0, c1, c2, c3 = map(float, sys.argv[9:17])
a, b = t1 - t0, t3 - t2
print("rows                 %d (chunks of %s)" % (rows, sys.argv[7]))
print("rowlogd snapshot     %.2f s  %.0f rows/s  (log on disk %.1f MiB, lz4)" %
      (a, rows / a, disk / 1048576))
print("  of which snapshot  %.2f s  %.0f rows/s  (open to last commit, from its log)" %
      (span, rows / span))
print("mariadb-dump         %.2f s  %.0f rows/s" % (b, rows / b))
print("ratio                %.2fx mariadb-dump's rows/s" % (b / a))
print("CPU s (user+sys)     rowlogd %.2f + server %.2f; mariadb-dump %.2f + server %.2f" %
      (c1 - c0, s1 - s0, c3 - c2, s3 - s2))
print("load average (1 min) %s before rowlogd, %s before mariadb-dump" % (sys.argv[17],
                                                                         sys.argv[18]))
EOF
}

for ((i = 1; i <= REPEAT; i++)); do
    for b in "${BINS[@]}"; do
        echo "---- run $i: $b"
        run_one "$b"
    done
done
