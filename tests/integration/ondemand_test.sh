#!/usr/bin/env bash
# ondemand_test.sh ROWLOGD ROWLOG SCRIPTS_DIR - on-demand snapshots while streaming against a
# real MariaDB (docs/snapshots.md "On demand").
#
# rowlogd streams with --snapshot never from before itest.od exists, so the stream alone holds
# the table's whole history. Then:
#  a. refusals: `rowlog snapshot` of an unknown table and of a table without a key fail with
#     rowlogd's reason (exit 1), and nothing is queued.
#  b. `rowlog snapshot --wait itest.od` (ROWS rows, chunks of 1000) while a workload of single-
#     statement updates, inserts and deletes runs on it. Afterwards (workload stopped, rowlogd
#     caught up) ondemand_check.py: the stream applies strictly, every 'r' record equals the
#     row the stream had produced for its key at that point, the topic reduced per key equals
#     SELECT; and the number of 'r' records is rows read minus rows dropped (/metrics).
#  c. the same again with chunks of 200 under the workload, rowlogd SIGKILLed at ~30% of the
#     rows; the restart logs that it resumes from a token, completes, and the same checks hold
#     on the whole topic.
# Environment: ITEST_ONDEMAND_ROWS (default 60000), ITEST_KEEP=1 keeps the temp dir.
# Exit status: 0 pass, 1 fail, 77 skip (MariaDB tools not installed).
set -uo pipefail

ROWLOGD=${1:?usage: ondemand_test.sh ROWLOGD ROWLOG SCRIPTS_DIR}
ROWLOG=${2:?usage: ondemand_test.sh ROWLOGD ROWLOG SCRIPTS_DIR}
SCRIPTS=${3:?usage: ondemand_test.sh ROWLOGD ROWLOG SCRIPTS_DIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SANDBOX="$SCRIPTS/mariadb-sandbox.sh"
ROWS=${ITEST_ONDEMAND_ROWS:-60000}

log() { echo "[ondemand $(date +%H:%M:%S)] $*"; }

for tool in mariadbd mariadb mariadb-admin mariadb-install-db python3 curl timeout; do
    if ! command -v "$tool" > /dev/null 2>&1 && ! [ -x "/usr/sbin/$tool" ]; then
        echo "SKIP: $tool not installed (bash scripts/install-deps.sh)"
        exit 77
    fi
done
for bin in "$ROWLOGD" "$ROWLOG"; do
    [ -x "$bin" ] || { echo "FAIL: $bin is not an executable (build first)"; exit 1; }
done

WORK=$(mktemp -d /tmp/rl-ondemand.XXXXXX)
RLD_PID=""
WL_PID=""
RLD_RUN=0
STATUS=1

alive() {
    [ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
    local st
    st=$(sed -E 's/^[0-9]+ \(.*\) (.).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
    [ "$st" != Z ]
}

wait_exit() {  # PID SECONDS; sets EXIT_RC; 1 on timeout
    local pid=$1 secs=$2 deadline
    deadline=$((SECONDS + secs))
    while alive "$pid"; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.1
    done
    EXIT_RC=0
    wait "$pid" || EXIT_RC=$?
    return 0
}

cleanup() {
    if alive "$WL_PID"; then kill -TERM "$WL_PID" 2> /dev/null; fi
    if alive "$RLD_PID"; then
        kill -TERM "$RLD_PID" 2> /dev/null
        wait_exit "$RLD_PID" 30 || kill -KILL "$RLD_PID" 2> /dev/null
    fi
    "$SANDBOX" stop "$WORK/db" > /dev/null 2>&1
    if [ "$STATUS" -ne 0 ]; then
        local f
        for f in "$WORK"/rowlogd.*.log; do
            [ -e "$f" ] || continue
            echo "---- last 30 lines of $(basename "$f") ----"
            tail -n 30 "$f"
        done
    fi
    if [ "${ITEST_KEEP:-0}" = 1 ]; then
        echo "[ondemand] ITEST_KEEP=1: work directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'echo "[ondemand] interrupted"; exit 130' INT TERM

die() { echo "FAIL: $*"; exit 1; }

read -r DBPORT KPORT HPORT < <(python3 -c '
import socket
s = [socket.socket() for _ in range(3)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
BOOT="127.0.0.1:$KPORT"
HTTP="127.0.0.1:$HPORT"

sql() { "$SANDBOX" sql "$WORK/db" "$@"; }

start_rowlogd() {  # READY_PATTERN ARGS...
    local ready=$1
    shift
    RLD_RUN=$((RLD_RUN + 1))
    LOGF="$WORK/rowlogd.$RLD_RUN.log"
    log "rowlogd run $RLD_RUN: $*"
    "$ROWLOGD" --source "mysql://rowlog:rowlogpw@127.0.0.1:$DBPORT" --data-dir "$WORK/data" \
        --listen "$BOOT" --partitions 1 --server-id 4344 --http "$HTTP" \
        --snapshot never --include 'itest\..*' --log-level info "$@" > "$LOGF" 2>&1 &
    RLD_PID=$!
    wait_log "$ready" 120
}

wait_log() {  # PATTERN SECONDS
    local deadline=$((SECONDS + $2))
    until grep -q -- "$1" "$LOGF"; do
        if ! alive "$RLD_PID"; then
            wait_exit "$RLD_PID" 1
            die "rowlogd exited with status $EXIT_RC before logging '$1'"
        fi
        [ $SECONDS -lt $deadline ] || die "no '$1' in rowlogd's log after $2 s"
        sleep 0.2
    done
}

stop_rowlogd() {  # SIGNAL
    kill -"$1" "$RLD_PID" 2> /dev/null || die "rowlogd is not running"
    wait_exit "$RLD_PID" 60 || die "rowlogd did not exit within 60 s of SIG$1"
    if [ "$1" = TERM ] && [ "$EXIT_RC" -ne 0 ]; then
        die "rowlogd exited with status $EXIT_RC after SIGTERM"
    fi
    RLD_PID=""
}

metric() {  # NAME LABEL_SUBSTRING: value of the first matching sample, or empty
    curl -sf "http://$HTTP/metrics" 2> /dev/null |
        awk -v n="$1 " -v m="$1{" -v l="$2" \
            '(index($0, n) == 1 || index($0, m) == 1) && index($0, l) > 0 { print $NF; exit }'
}

# wait_caught_up: until rowlogd's GTID sequence reaches the primary's.
wait_caught_up() {
    local want have deadline=$((SECONDS + 120))
    want=$(sql -N -B -e "SELECT @@gtid_binlog_pos" | sed 's/.*-//')
    while :; do
        have=$(metric rowlog_source_gtid_sequence 'gtid_domain="0"')
        if [ -n "$have" ] && [ "$have" -ge "$want" ]; then
            sleep 1 # the position is published before its group commit is durable
            return 0
        fi
        [ $SECONDS -lt $deadline ] || die "rowlogd did not reach the primary's seq $want"
        sleep 0.3
    done
}

read_topic() {  # TOPIC OUT
    timeout 300 "$ROWLOG" tail --bootstrap "$BOOT" --from beginning "$1" > "$2" \
        2> "$2.err" || die "rowlog tail $1: $(tail -n 3 "$2.err")"
}

start_workload() {  # SEED: single-statement transactions on itest.od, in the background
    python3 - "$ROWS" "$1" > "$WORK/workload.$1.sql" << 'PY'
import random, sys
n = int(sys.argv[1]); rnd = random.Random(int(sys.argv[2])); nxt = 10 * n + int(sys.argv[2]) * n
for i in range(40000):
    x = rnd.random(); k = rnd.randint(1, n)
    if x < 0.55:
        print("UPDATE od SET v = v + 1, s = CONCAT(LEFT(s, 30), '+') WHERE id = %d;" % k)
    elif x < 0.8:
        print("INSERT INTO od VALUES (%d, %d, 'new');" % (nxt, i)); nxt += 1
    elif x < 0.9:
        print("DELETE FROM od WHERE id = %d;" % k)
    else:
        print("INSERT INTO od VALUES (%d, %d, 'back') ON DUPLICATE KEY UPDATE v = v + 2;" % (k, i))
PY
    mariadb --no-defaults -h127.0.0.1 -P"$DBPORT" -uapp -papppw itest \
        < "$WORK/workload.$1.sql" > "$WORK/workload.$1.out" 2>&1 &
    WL_PID=$!
}

stop_workload() {
    if alive "$WL_PID"; then
        kill -TERM "$WL_PID" 2> /dev/null
        wait_exit "$WL_PID" 30
    fi
    WL_PID=""
}

check_topic() {  # LABEL EXTRA_ARGS...
    local label=$1
    shift
    wait_caught_up
    read_topic rowlog.itest.od "$WORK/od.$label.jsonl"
    sql -N -B -e "SELECT id, v, s FROM itest.od ORDER BY id" > "$WORK/od.$label.tsv" ||
        die "select"
    python3 "$HERE/ondemand_check.py" "$WORK/od.$label.jsonl" "$WORK/od.$label.tsv" "$@" ||
        die "$label: the topic is not exact"
}

T0=$SECONDS
log "starting MariaDB on 127.0.0.1:$DBPORT; work dir $WORK"
"$SANDBOX" start "$WORK/db" "$DBPORT" || die "sandbox start"
sql -e "CREATE DATABASE IF NOT EXISTS itest" || die "create database"
start_rowlogd "streaming from" --snapshot-chunk-rows 1000
sql << EOF || die "schema"
USE itest;
CREATE TABLE od (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(40) NOT NULL) ENGINE=InnoDB;
CREATE TABLE nokey (a INT, b INT) ENGINE=InnoDB;
INSERT INTO od SELECT seq, seq % 1000, CONCAT('row-', seq) FROM seq_1_to_$ROWS;
INSERT INTO nokey VALUES (1, 2);
EOF
wait_caught_up
log "itest.od filled with $ROWS rows and streamed ($((SECONDS - T0)) s)"

# ---- a
out=$("$ROWLOG" snapshot --http "$HTTP" itest.nosuch 2>&1) && die "a: unknown table accepted"
echo "$out" | grep -q "no base table itest.nosuch" || die "a: unclear refusal: $out"
log "a: unknown table: $out"
out=$("$ROWLOG" snapshot --http "$HTTP" itest.nokey 2>&1) && die "a: table without key accepted"
echo "$out" | grep -q "has no primary key" || die "a: unclear refusal: $out"
log "a: no key: $out"
curl -sf "http://$HTTP/v1/snapshots" | grep -q '"tables":\[\]' || die "a: a refused table is listed"

# ---- b
start_workload 1
sleep 1
"$ROWLOG" snapshot --http "$HTTP" --wait itest.od > "$WORK/snapshot.b.out" 2>&1 ||
    die "b: rowlog snapshot: $(tail -n 3 "$WORK/snapshot.b.out")"
alive "$WL_PID" || log "b: WARNING: the workload ended before the snapshot did"
stop_workload
tail -n 1 "$WORK/snapshot.b.out"
read_n=$(metric rowlog_ondemand_snapshot_rows_read 'itest.od')
dropped=$(metric rowlog_ondemand_snapshot_rows_dropped_total 'itest.od')
[ -n "$read_n" ] && [ -n "$dropped" ] || die "b: no on-demand metrics"
log "b: $read_n rows read, $dropped dropped in favour of the stream"
check_topic b --rows-r $((read_n - dropped)) --min-r $((ROWS / 2))
grep -q '"snapshot":"incremental"' "$WORK/od.b.jsonl" || die "b: no incremental mark"
log "b passed ($((SECONDS - T0)) s)"
stop_rowlogd TERM

# ---- c
start_rowlogd "streaming from" --snapshot-chunk-rows 200 --commit-interval-ms 5
start_workload 2
"$ROWLOG" snapshot --http "$HTTP" itest.od > "$WORK/snapshot.c.out" 2>&1 ||
    die "c: rowlog snapshot: $(cat "$WORK/snapshot.c.out")"
deadline=$((SECONDS + 120))
while :; do
    r=$(metric rowlog_ondemand_snapshot_rows_read 'itest.od')
    [ -n "$r" ] && [ "$r" -ge $((ROWS * 3 / 10)) ] && break
    alive "$RLD_PID" || die "c: rowlogd ended"
    [ $SECONDS -lt $deadline ] || die "c: no on-demand progress on /metrics"
    sleep 0.05
done
done_flag=$(metric rowlog_ondemand_snapshot_table_done 'itest.od')
[ "$done_flag" = 0 ] || die "c: the snapshot was too fast to stop mid-way"
stop_rowlogd KILL
log "c: SIGKILL at about $r rows"
start_rowlogd "on-demand snapshot: itest.od resumes from token '[0-9]" --snapshot-chunk-rows 200
wait_log "on-demand snapshot: itest.od complete" 150
stop_workload
check_topic c --min-r $((ROWS / 2))
log "c passed ($((SECONDS - T0)) s)"
stop_rowlogd TERM
STATUS=0
log "PASS ($((SECONDS - T0)) s)"
