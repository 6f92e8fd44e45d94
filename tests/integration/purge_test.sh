#!/usr/bin/env bash
# purge_test.sh ROWLOGD ROWLOG SCRIPTS_DIR - a purged start position is an error, never a skip.
#
#  1. a sandbox MariaDB; rowlogd captures 200 rows and stops (SIGTERM, exit 0)
#  2. harmless purge: FLUSH BINARY LOGS twice with no writes, PURGE BINARY LOGS TO the newest.
#     Nothing rowlogd needs is gone (the newest file's GTID_LIST is its position), so a restart
#     must resume and capture the next rows exactly once; then it stops again
#  3. real loss: FLUSH BINARY LOGS three times with writes in between, PURGE BINARY LOGS TO the
#     newest. rowlogd restarted must exit non-zero by itself (no endless retry) with a message
#     saying what happened (error 1236, purged) and what to do (a new snapshot), must not have
#     changed a byte of its data directory (no silent restart from the primary's current
#     position), and must keep failing the same way on a second attempt.
# Environment: ITEST_DEADLINE (s, 240: then the test stops and cleans up), ITEST_KEEP=1 keeps
# the work dir.
# Exit status: 0 pass, 1 fail, 77 skip (MariaDB tools or kcat not installed).
set -uo pipefail

ROWLOGD=${1:?usage: purge_test.sh ROWLOGD ROWLOG SCRIPTS_DIR}
ROWLOG=${2:?usage: purge_test.sh ROWLOGD ROWLOG SCRIPTS_DIR}
SCRIPTS=${3:?usage: purge_test.sh ROWLOGD ROWLOG SCRIPTS_DIR}
SANDBOX="$SCRIPTS/mariadb-sandbox.sh"

. "$(dirname "$0")/lib.sh"

rl_require_tools mariadbd mariadb mariadb-admin mariadb-install-db python3 setsid sha1sum
rl_require_bins "$ROWLOGD" "$ROWLOG"

WORK=$(mktemp -d /tmp/rl-purge.XXXXXX)
RLD_PID=""
RLD_RUN=0
STATUS=1
log() { echo "[purge $(date +%H:%M:%S)] $*"; }

cleanup() {
    [ -n "${WATCHDOG_PID:-}" ] && kill -TERM "$WATCHDOG_PID" 2> /dev/null
    rl_stop "$RLD_PID" 30
    "$SANDBOX" stop "$WORK/db" > /dev/null 2>&1
    if [ "$STATUS" -ne 0 ]; then
        rl_show_logs 20 "$WORK"/rowlogd.*.log
    fi
    if [ "${ITEST_KEEP:-0}" = 1 ]; then echo "[purge] work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
# Our own deadline, below ctest's TIMEOUT: ctest kills only this shell, which would leave the
# servers it started running; a SIGTERM to ourselves runs the cleanup instead.
rl_watchdog purge "${ITEST_DEADLINE:-240}"
trap 'exit 130' INT TERM
die() { echo "FAIL: $*"; exit 1; }

read -r DBPORT KPORT < <(free_ports 2)
BOOT="127.0.0.1:$KPORT"
sql() { "$SANDBOX" sql "$WORK/db" "$@"; }

start_rowlogd() {
    RLD_RUN=$((RLD_RUN + 1))
    LOGF="$WORK/rowlogd.$RLD_RUN.log"
    # --http off: the metrics endpoint is not under test here, and its fixed default port
    # would collide between tests running in parallel.
    "$ROWLOGD" --source "mysql://rowlog:rowlogpw@127.0.0.1:$DBPORT" --data-dir "$WORK/data" \
        --listen "$BOOT" --server-id 4244 --http off > "$LOGF" 2>&1 &
    RLD_PID=$!
}
# wait_streaming: the dump is running. A first start (no checkpoint) begins at the primary's
# position of that moment, so rows written before this would not be captured.
wait_streaming() {
    local deadline=$((SECONDS + 60))
    until grep -q "streaming from" "$LOGF"; do
        alive "$RLD_PID" || { wait_exit "$RLD_PID" 1; die "rowlogd exited ($EXIT_RC) early"; }
        [ $SECONDS -lt $deadline ] || die "rowlogd not streaming after 60 s"
        sleep 0.1
    done
}
stop_rowlogd() {
    kill -TERM "$RLD_PID"
    wait_exit "$RLD_PID" 60 || die "rowlogd did not stop within 60 s of SIGTERM"
    [ "$EXIT_RC" -eq 0 ] || die "rowlogd exited with status $EXIT_RC after SIGTERM (want 0)"
    RLD_PID=""
}
log_end() {  # records in rowlog.itest.t (sum of LOG_END), or nothing when unreadable
    timeout 30 "$ROWLOG" topics --bootstrap "$BOOT" 2> /dev/null |
        awk -F'\t' '$1 == "rowlog.itest.t" { s += $4 } END { print s + 0 }'
}
wait_records() {  # N: until the log holds N records (60 s)
    local deadline=$((SECONDS + 60)) have=""
    while [ $SECONDS -lt $deadline ]; do
        alive "$RLD_PID" || { wait_exit "$RLD_PID" 1; die "rowlogd exited ($EXIT_RC) early"; }
        have=$(log_end)
        [ "$have" = "$1" ] && return 0
        [ -n "$have" ] && [ "$have" -gt "$1" ] && die "the log holds $have records, expected $1"
        sleep 0.2
    done
    die "the log holds ${have:-?} records after 60 s, expected $1"
}
newest_binlog() { sql -N -B -e "SHOW MASTER STATUS" | cut -f1; }
# PURGE BINARY LOGS TO the newest file, repeated until the older ones are gone: the server
# keeps a file while a binlog checkpoint or a (not yet reaped) dump thread still uses it.
purge_to_newest() {
    local newest deadline=$((SECONDS + 30))
    newest=$(newest_binlog)
    while :; do
        sql -e "PURGE BINARY LOGS TO '$newest'" 2> /dev/null
        [ "$(sql -N -B -e 'SHOW BINARY LOGS' | wc -l)" -eq 1 ] && break
        [ $SECONDS -lt $deadline ] ||
            die "PURGE BINARY LOGS TO '$newest' left: $(sql -N -B -e 'SHOW BINARY LOGS' | cut -f1)"
        sleep 0.2
    done
    NEWEST=$newest
}
data_digest() { (cd "$WORK/data" && find . -type f ! -name '*.lock' -print0 | sort -z |
                 xargs -0 sha1sum); }

log "MariaDB on 127.0.0.1:$DBPORT, work dir $WORK"
"$SANDBOX" start "$WORK/db" "$DBPORT" > /dev/null || die "sandbox start"
sql -e "CREATE DATABASE itest; CREATE TABLE itest.t (id INT PRIMARY KEY, v INT NOT NULL)"

# 1. a first capture
start_rowlogd
wait_streaming
sql itest -e "INSERT INTO t SELECT seq, 0 FROM seq_1_to_200"
wait_records 200
stop_rowlogd
log "captured 200 rows; rowlogd stopped"

# 2. harmless purge: no transaction rowlogd has not seen is gone
sql -e "FLUSH BINARY LOGS; FLUSH BINARY LOGS"
purge_to_newest
start_rowlogd
wait_streaming
sql itest -e "INSERT INTO t SELECT seq, 1 FROM seq_201_to_300"
wait_records 300
stop_rowlogd
log "after a purge that lost nothing rowlogd resumed: 300 records"

# 3. real loss: transactions rowlogd never read are purged
for i in 1 2 3; do
    sql itest -e "INSERT INTO t VALUES ($((1000 + i)), $i); FLUSH BINARY LOGS"
done
purge_to_newest
log "purged everything before $NEWEST; 3 transactions rowlogd never read are gone"
BEFORE=$(data_digest)
for attempt in 1 2; do
    start_rowlogd
    wait_exit "$RLD_PID" 60 || die "rowlogd still running 60 s after a purged start position" \
        "(retrying forever, or streaming from somewhere else): $(tail -n 3 "$LOGF")"
    RLD_PID=""
    RC=$EXIT_RC
    log "attempt $attempt: rowlogd exited with status $RC"
    [ "$RC" -ne 0 ] || die "rowlogd exited 0 on a purged position"
    [ "$RC" -lt 128 ] || die "rowlogd died of signal $((RC - 128))"
    grep -q "1236" "$LOGF" || die "the message does not name the server error 1236"
    grep -qi "purged" "$LOGF" || die "the message does not say the position was purged"
    grep -qi "snapshot" "$LOGF" || die "the message does not say what to do (a new snapshot)"
    if grep -q "reconnecting" "$LOGF"; then
        die "rowlogd treated the purged position as a connection problem (it retried)"
    fi
    [ "$(data_digest)" = "$BEFORE" ] ||
        die "the data directory changed: rowlogd wrote something after a purged start position"
done
log "message: $(grep -m1 -i 'purged' "$LOGF" | cut -c1-400)"
# Sanitizer builds (-DRL_SANITIZE=ON): UBSan reports do not change the exit status.
if grep -h -m5 -E "runtime error:|AddressSanitizer|LeakSanitizer" "$WORK"/rowlogd.*.log; then
    die "sanitizer reports in rowlogd's log"
fi
STATUS=0
log "PASS"
