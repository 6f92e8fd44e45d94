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

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/snapshot_lib.sh"
sl_init ondemand "${1:?usage: ondemand_test.sh ROWLOGD ROWLOG SCRIPTS_DIR}" \
    "${2:?usage: ondemand_test.sh ROWLOGD ROWLOG SCRIPTS_DIR}" \
    "${3:?usage: ondemand_test.sh ROWLOGD ROWLOG SCRIPTS_DIR}" 4344
ROWS=${ITEST_ONDEMAND_ROWS:-60000}

# od_start READY_PATTERN ARGS...: rowlogd streaming itest.* without an initial snapshot.
od_start() {
    local ready=$1
    shift
    start_rowlogd "$WORK/data" "$ready" --snapshot never --include 'itest\..*' "$@"
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
sl_start_db
sql -e "CREATE DATABASE IF NOT EXISTS itest" || die "create database"
od_start "streaming from" --snapshot-chunk-rows 1000
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
od_start "streaming from" --snapshot-chunk-rows 200 --commit-interval-ms 5
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
od_start "on-demand snapshot: itest.od resumes from token '[0-9]" --snapshot-chunk-rows 200
wait_log "on-demand snapshot: itest.od complete" 150
stop_workload
check_topic c --min-r $((ROWS / 2))
log "c passed ($((SECONDS - T0)) s)"
stop_rowlogd TERM
STATUS=0
log "PASS ($((SECONDS - T0)) s)"
