#!/usr/bin/env bash
# oracle_live_test.sh ROWLOGD ROWLOG SCRIPTS_DIR [--old-temporal] - the decoder against a live
# MariaDB, every column type, checked against SELECT (issue 3, "Live oracle").
#
#  1. a sandbox MariaDB (scripts/mariadb-sandbox.sh: binlog_format=ROW, binlog_row_metadata=FULL,
#     binlog_row_image=FULL, GTIDs) and rowlogd (--snapshot never --http off) reading it
#  2. oracle_live.py gen: tables itest.t_all (PRIMARY KEY (id)) and itest.t_comp (PRIMARY KEY
#     (k1, k2)), each with a column of every MariaDB type; ORACLE_ROWS (default 10000) rows
#     into t_all and a fifth of that into t_comp, in bulk multi-row INSERTs, from a seeded RNG:
#     extremes (an all-minimum and an all-maximum row, a row of NULLs), NULL in every nullable
#     column, negative, fractional and > 24 h TIMEs, zero dates, 4-byte emoji, latin1, gbk
#     and ujis text, LONGBLOBs over 1 MiB, large nested JSON; then random UPDATEs (several
#     columns, some to NULL, some changing the primary key), DELETEs and INSERTs, single- and
#     multi-row statements, in multi-statement transactions (some rolled back)
#  3. a marker row in itest.done, committed last: once its topic has it, rowlogd has every
#     change before it; both topics are read with `rowlog tail --format json`
#  4. oracle_live.py check, per table: the last change per key (c/u set `after`, d removes)
#     equals the SELECT of the table, key set and every column of every row (the conversions
#     are listed in oracle_live.py)
#  5. SIGTERM rowlogd (exit status 0), stop the sandbox
#
# --old-temporal: the server runs with --mysql56-temporal-format=OFF, so the tables' TIME,
# DATETIME and TIMESTAMP columns use MariaDB's pre-10.1 formats (binlog types TIME, DATETIME,
# TIMESTAMP, not TIME2/DATETIME2/TIMESTAMP2), and rowlogd with --schema-history on (the size
# of the fractional ones, table t_hires, is only in the schema); skipped (exit 77) when the
# server does not accept the option.
#
# Environment: ORACLE_SEED (default random; printed, so that a failure can be reproduced),
# ORACLE_ROWS (default 10000), ITEST_KEEP=1 keeps the temp dir (generated SQL, topic dumps,
# SELECT output, logs).
# Exit status: 0 pass, 1 fail, 77 skip (MariaDB tools not installed, or the old temporal
# format not accepted).
set -uo pipefail

ROWLOGD=${1:?usage: oracle_live_test.sh ROWLOGD ROWLOG SCRIPTS_DIR [--old-temporal]}
ROWLOG=${2:?usage: oracle_live_test.sh ROWLOGD ROWLOG SCRIPTS_DIR [--old-temporal]}
SCRIPTS=${3:?usage: oracle_live_test.sh ROWLOGD ROWLOG SCRIPTS_DIR [--old-temporal]}
OLD_TEMPORAL=0
[ "${4:-}" = --old-temporal ] && OLD_TEMPORAL=1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SANDBOX="$SCRIPTS/mariadb-sandbox.sh"
SEED=${ORACLE_SEED:-$(( (RANDOM << 15) | RANDOM ))}
TAG=oracle
[ $OLD_TEMPORAL = 1 ] && TAG=oracle-old-temporal

log() { echo "[$TAG $(date +%H:%M:%S)] $*"; }

. "$HERE/lib.sh"

rl_require_tools mariadbd mariadb mariadb-admin mariadb-install-db python3 setsid timeout
rl_require_bins "$ROWLOGD" "$ROWLOG"

WORK=$(mktemp -d /tmp/rl-oracle.XXXXXX)
RLD_PID=""
WATCHDOG_PID=""
STATUS=1

cleanup() {
    [ -z "$WATCHDOG_PID" ] || kill "$WATCHDOG_PID" 2> /dev/null
    rl_stop "$RLD_PID" 30
    "$SANDBOX" stop "$WORK/db" > /dev/null 2>&1
    if [ "$STATUS" -eq 1 ]; then
        rl_show_logs 30 "$WORK"/rowlogd*.log "$WORK/db/error.log"
        log "reproduce with ORACLE_SEED=$SEED"
    fi
    if [ "${ITEST_KEEP:-0}" = 1 ]; then
        log "ITEST_KEEP=1: work directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 1' INT TERM

die() { echo "FAIL: $*"; exit 1; }

# ctest's TIMEOUT is 600 s; our own deadline stops the servers before that.
rl_watchdog "$TAG" 540

read -r DBPORT KPORT < <(free_ports 2)
BOOT="127.0.0.1:$KPORT"
sql() { "$SANDBOX" sql "$WORK/db" "$@"; }

T0=$SECONDS
log "seed $SEED (reproduce with ORACLE_SEED=$SEED), work dir $WORK"
OLDFLAG=()
CHECKFLAG=()
RLD_EXTRA=()
if [ $OLD_TEMPORAL = 1 ]; then
    OLDFLAG=(--old-temporal)
    CHECKFLAG=(--old-temporal)
    # The size of a MariaDB 5.3 fractional temporal value is only in the table's schema.
    RLD_EXTRA=(--schema-history on)
fi
python3 "$HERE/oracle_live.py" gen --seed "$SEED" --out "$WORK/gen" "${OLDFLAG[@]}" ||
    die "oracle_live.py gen"
log "workload generated: $(du -sh "$WORK/gen" | cut -f1) of SQL in $((SECONDS - T0)) s"

# The load is write-heavy and the server is never crashed: no fsync per commit.
extra="--innodb-flush-log-at-trx-commit=2 --max-allowed-packet=64M"
[ $OLD_TEMPORAL = 1 ] && extra="$extra --mysql56-temporal-format=OFF"
if ! SANDBOX_MARIADBD_ARGS="$extra" "$SANDBOX" start "$WORK/db" "$DBPORT" \
        > "$WORK/sandbox.out" 2>&1; then
    if [ $OLD_TEMPORAL = 1 ] && grep -qi "mysql56.temporal.format" "$WORK/db/error.log"; then
        STATUS=77
        echo "SKIP: this MariaDB does not accept --mysql56-temporal-format=OFF:" \
            "$(grep -i "mysql56.temporal.format" "$WORK/db/error.log" | head -n 1)"
        exit 77
    fi
    cat "$WORK/sandbox.out"
    die "sandbox start"
fi
settings=$(sql -N -B -e "SELECT @@binlog_format, @@binlog_row_image, @@binlog_row_metadata,
    @@mysql56_temporal_format, @@version") || die "reading the server's settings"
log "MariaDB on 127.0.0.1:$DBPORT: $(echo $settings)"
set -- $settings
[ "$1 $2 $3" = "ROW FULL FULL" ] || die "unexpected binlog settings: $settings"
[ "$4" = $((1 - OLD_TEMPORAL)) ] || die "mysql56_temporal_format is $4"

# start_rowlogd LOG SOURCE_PORT READY: rowlogd on $WORK/data, waits until its log shows
# READY. With --snapshot never a new data directory streams from the primary's current
# position.
start_rowlogd() {
    RLD_LOG=$1
    "$ROWLOGD" --source "mysql://rowlog:rowlogpw@127.0.0.1:$2" --data-dir "$WORK/data" \
        --listen "$BOOT" --partitions 1 --server-id 4545 --http off --snapshot never \
        --log-level info "${RLD_EXTRA[@]}" > "$RLD_LOG" 2>&1 &
    RLD_PID=$!
    local deadline=$((SECONDS + 60))
    until grep -q "$3" "$RLD_LOG"; do
        alive "$RLD_PID" || die "rowlogd exited before streaming: $(tail -n 5 "$RLD_LOG")"
        [ $SECONDS -lt $deadline ] || die "no '$3' in rowlogd's log after 60 s"
        sleep 0.2
    done
}

# wait_marker N SECONDS: until rowlog.itest.done has the row id N (rowlogd has appended every
# change committed before it). Returns 1 when rowlogd exits first; fails after SECONDS.
wait_marker() {
    local deadline=$((SECONDS + $2))
    until timeout 60 "$ROWLOG" tail --bootstrap "$BOOT" rowlog.itest.done > "$WORK/done.jsonl" \
            2> /dev/null && grep -q "\"after\":{\"id\":$1}" "$WORK/done.jsonl"; do
        alive "$RLD_PID" || return 1
        [ $SECONDS -lt $deadline ] || die "the marker row $1 is not in rowlog.itest.done after $2 s"
        sleep 0.5
    done
}

# read_table T FILE...: the topic of itest.T as `rowlog tail` lines, and the oracle's SELECT.
read_table() {
    if "$ROWLOG" topics --bootstrap "$BOOT" 2> /dev/null | grep -q "^rowlog\.itest\.$1\s"; then
        timeout 300 "$ROWLOG" tail --bootstrap "$BOOT" --format json "rowlog.itest.$1" \
            > "$WORK/$1.jsonl" 2> "$WORK/$1.err" ||
            die "rowlog tail $1: $(tail -n 3 "$WORK/$1.err")"
    else
        : > "$WORK/$1.jsonl"
    fi
    sql -N -B < "$WORK/gen/select_$1.sql" > "$WORK/$1.tsv" || die "SELECT of $1"
}

start_rowlogd "$WORK/rowlogd.log" "$DBPORT" "streaming from"

T1=$SECONDS
sql < "$WORK/gen/schema.sql" || die "schema"
# The temporal columns must have the format this variant is about: MariaDB marks the old
# (pre-10.1) ones "/* mariadb-5.3 */" in information_schema.columns.column_type.
counts=$(sql -N -B -e "SELECT SUM(column_type LIKE '%mariadb-5.3%'), COUNT(*)
    FROM information_schema.columns WHERE table_schema = 'itest'
    AND data_type IN ('time', 'datetime', 'timestamp')") || die "reading the column types"
set -- $counts
if [ $OLD_TEMPORAL = 1 ]; then
    [ "$1" = "$2" ] || die "only $1 of $2 temporal columns have the old format"
else
    [ "$1" = 0 ] || die "$1 temporal columns have the old format"
fi
log "$2 temporal columns, $1 of them in the old format"
sql < "$WORK/gen/load.sql" > "$WORK/load.out" 2>&1 ||
    die "load.sql failed: $(tail -n 3 "$WORK/load.out")"
log "loaded in $((SECONDS - T1)) s"
T1=$SECONDS
sql < "$WORK/gen/changes.sql" > "$WORK/changes.out" 2>&1 ||
    die "changes.sql failed: $(tail -n 3 "$WORK/changes.out")"
sql -e "INSERT INTO itest.done VALUES (1)" || die "marker"
log "changes applied in $((SECONDS - T1)) s; $(sql -N -B -e 'SELECT COUNT(*) FROM itest.t_all')" \
    "rows in t_all, $(sql -N -B -e 'SELECT COUNT(*) FROM itest.t_comp') in t_comp"

T1=$SECONDS
wait_marker 1 240 || die "rowlogd exited: $(tail -n 5 "$WORK/rowlogd.log")"
log "rowlogd caught up in $((SECONDS - T1)) s"

fail=0
for t in t_all t_comp; do
    read_table "$t"
    python3 "$HERE/oracle_live.py" check --table "$t" --tail "$WORK/$t.jsonl" \
        --select "$WORK/$t.tsv" "${CHECKFLAG[@]}" || fail=1
done
[ $fail = 0 ] || die "the decoded changes do not reduce to the tables (seed $SEED)"

# MariaDB 5.3's fractional TIME(n), DATETIME(n), TIMESTAMP(n) (n > 0; tables created with
# mysql56_temporal_format=OFF) are written to the binlog as the types TIME, DATETIME,
# TIMESTAMP with no metadata, but hold 3-6, 5-8 and 5-7 bytes: only the table's schema gives
# their size (mariadb-binlog -v cannot print them). With the schema history the decoder reads
# them: t_hires must equal SELECT like the other tables.
if [ $OLD_TEMPORAL = 1 ]; then
    sql < "$WORK/gen/hires.sql" > "$WORK/hires.out" 2>&1 ||
        die "hires.sql failed: $(tail -n 3 "$WORK/hires.out")"
    sql -e "INSERT INTO itest.done VALUES (2)" || die "marker"
    wait_marker 2 120 || die "rowlogd did not reach the t_hires marker: $(grep -m 1 ERROR "$WORK/rowlogd.log")"
    read_table t_hires
    python3 "$HERE/oracle_live.py" check --table t_hires --tail "$WORK/t_hires.jsonl" \
        --select "$WORK/t_hires.tsv" "${CHECKFLAG[@]}" ||
        die "t_hires: MariaDB 5.3 temporal values decoded wrongly (seed $SEED)"
fi

kill -TERM "$RLD_PID"
wait_exit "$RLD_PID" 60 || die "rowlogd did not exit within 60 s of SIGTERM"
[ "$EXIT_RC" = 0 ] || die "rowlogd exited with status $EXIT_RC after SIGTERM"
RLD_PID=""
STATUS=0
log "PASS in $((SECONDS - T0)) s (seed $SEED)"
