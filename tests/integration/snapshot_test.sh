#!/usr/bin/env bash
# snapshot_test.sh ROWLOGD ROWLOG SCRIPTS_DIR [CASES] - rowlogd's initial snapshot against a real
# MariaDB (docs/snapshots.md "rowlogd"). CASES: the letters of the cases to run (default abcd;
# ctest runs "ad" as integration_snapshot_exact and "bc" as integration_snapshot, in parallel).
#
#  a. itest.big (ITEST_SNAPSHOT_ROWS rows, default 1000000, filled from MariaDB's SEQUENCE
#     engine) is snapshotted while a workload updates, inserts and deletes in it; --exclude
#     leaves out itest.skip_me, which the workload also writes. Afterwards the topic, applied
#     in order with every change's before image checked against the state it applies to
#     (snapshot_check.py --strict), equals SELECT of the table: no change missing or doubled.
#  d. itest.skip_me has no topic (neither snapshot nor stream records).
#  b. itest.mid is snapshotted in chunks of 10, throttled to a chunk per millisecond
#     (ROWLOGD_TEST_SNAPSHOT_CHUNK_DELAY_US, test-only: the table is read by one query and
#     would otherwise be done before a signal could reach it); at 5% (rowlog_snapshot_rows_read
#     on /metrics) `rowlog status` must show the snapshot's progress bar and ETA; rowlogd gets
#     SIGTERM at 10% (it must exit 0 with its progress committed), resumes, gets SIGKILL at
#     50%; the last restart (not throttled) logs that it resumes, reads fewer rows than the
#     table holds, and the topic ends with every row exactly once (strict check, exactly N 'r'
#     records).
#  c. --snapshot when-needed: with rowlogd stopped, rows change and the binlog is purged; the
#     restart takes a new snapshot instead of failing: the records it appends reduce to the
#     table, with one 'r' per row.
#
# Environment: ITEST_SNAPSHOT_ROWS (default 1000000), ITEST_KEEP=1 keeps the temp dir.
# Exit status: 0 pass, 1 fail, 77 skip (MariaDB tools not installed).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/snapshot_lib.sh"
sl_init snapshot "${1:?usage: snapshot_test.sh ROWLOGD ROWLOG SCRIPTS_DIR [CASES]}" \
    "${2:?usage: snapshot_test.sh ROWLOGD ROWLOG SCRIPTS_DIR [CASES]}" \
    "${3:?usage: snapshot_test.sh ROWLOGD ROWLOG SCRIPTS_DIR [CASES]}" 4343
CASES=${4:-abcd}
ROWS=${ITEST_SNAPSHOT_ROWS:-1000000}
MID_ROWS=100000
want() { [[ $CASES == *$1* ]]; }

T0=$SECONDS
sl_start_db
{
    echo "CREATE DATABASE IF NOT EXISTS itest; USE itest;"
    if want a || want d; then
        echo "CREATE TABLE big (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(40) NOT NULL)"
        echo "    ENGINE=InnoDB;"
        echo "CREATE TABLE skip_me (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(40) NOT NULL);"
        echo "INSERT INTO big SELECT seq, seq % 1000, CONCAT('row-', seq) FROM seq_1_to_$ROWS;"
        echo "INSERT INTO skip_me SELECT seq, seq, 'x' FROM seq_1_to_1000;"
    fi
    echo "CREATE TABLE mid (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(40) NOT NULL);"
    echo "CREATE TABLE small (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(40) NOT NULL);"
    if want b; then
        echo "INSERT INTO mid SELECT seq, seq * 7, CONCAT('m', seq) FROM seq_1_to_$MID_ROWS;"
    fi
    echo "INSERT INTO small SELECT seq, seq, 's' FROM seq_1_to_2000;"
} | sql || die "schema"
log "tables filled in $((SECONDS - T0)) s (cases $CASES)"

if want a || want d; then
# The workload: single-statement transactions on big (updates, inserts above the table,
# deletes) and skip_me, while the snapshot runs and after it.
python3 - "$ROWS" > "$WORK/workload.sql" << 'EOF'
import random, sys
n = int(sys.argv[1]); rnd = random.Random(7); nxt = n + 1
for i in range(3000):
    x = rnd.random(); k = rnd.randint(1, n)
    if x < 0.5:
        print("UPDATE big SET v = v + 1, s = CONCAT(s, '+') WHERE id = %d;" % k)
    elif x < 0.7:
        print("INSERT INTO big VALUES (%d, %d, 'new');" % (nxt, i)); nxt += 1
    elif x < 0.85:
        print("DELETE FROM big WHERE id = %d;" % k)
    else:
        print("UPDATE skip_me SET v = v + 1 WHERE id = %d;" % rnd.randint(1, 1000))
EOF

# ---- a + d
log "a/d: snapshot of itest.big during a workload; itest.skip_me, mid, small excluded"
mariadb --no-defaults -h127.0.0.1 -P"$DBPORT" -uapp -papppw itest < "$WORK/workload.sql" \
    > "$WORK/workload.out" 2>&1 &
WL_PID=$!
gseq() { sql -N -B -e "SELECT @@gtid_binlog_pos" | sed 's/.*-//'; }
G0=$(gseq)
# The snapshot point must fall inside the workload: start once it has committed 300 changes.
deadline=$((SECONDS + 60))
until [ "$(gseq)" -ge $((G0 + 300)) ]; do
    [ $SECONDS -lt $deadline ] || die "the workload does not progress"
    sleep 0.05
done
start_rowlogd "$WORK/data-a" "" --exclude 'itest\.skip_me' --exclude 'itest\.(mid|small)' \
    --snapshot-chunk-rows 5000
wait_log "snapshot: complete" 150
wait_exit "$WL_PID" 120 || die "workload still running after 120 s"
[ "$EXIT_RC" -eq 0 ] || die "workload failed: $(tail -n 3 "$WORK/workload.out")"
WL_PID=""
P1=$(sed -n "s/.*snapshot: new, at .*GTID state '0-1-\([0-9]*\)'.*/\1/p" "$LOGF")
G1=$(gseq)
[ -n "$P1" ] && [ "$P1" -gt "$G0" ] && [ "$P1" -lt "$G1" ] ||
    die "a: the snapshot point (seq ${P1:-?}) is not inside the workload ($G0, $G1)"
log "a: snapshot point at seq $P1, inside the workload's ($G0, $G1)"
sql -e "INSERT INTO itest.skip_me VALUES (5000, 1, 'after')" || die "insert"
wait_caught_up
log "a: snapshot and workload done in $((SECONDS - T0)) s; reading the topic"
read_topic rowlog.itest.big "$WORK/big.jsonl"
sql -N -B -e "SELECT id, v, s FROM itest.big ORDER BY id" > "$WORK/big.tsv" || die "select"
python3 "$HERE/snapshot_check.py" "$WORK/big.jsonl" "$WORK/big.tsv" --strict ||
    die "a: the topic does not reduce to the table exactly"
"$ROWLOG" topics --bootstrap "$BOOT" > "$WORK/topics.txt" 2>&1 || die "rowlog topics"
if grep -q "skip_me\|itest\.mid\|itest\.small" "$WORK/topics.txt"; then
    die "d: an excluded table has a topic: $(cat "$WORK/topics.txt")"
fi
grep -q "rowlog.itest.big" "$WORK/topics.txt" || die "no topic rowlog.itest.big"
grep -q "excluded" "$LOGF" || die "d: the stream's filter never excluded a table"
stop_rowlogd TERM
log "a, d passed ($((SECONDS - T0)) s)"

fi

if want b; then
# ---- b
log "b: itest.mid in chunks of 10: SIGTERM mid-way, resume, SIGKILL mid-way, resume"
# interrupt_at SIGNAL ROWS: signal rowlogd once the table's rows_read reaches ROWS.
interrupt_at() {
    local deadline=$((SECONDS + 120)) r
    while :; do
        r=$(metric rowlog_snapshot_rows_read 'itest.mid')
        if [ -n "$r" ] && [ "$r" -ge "$2" ]; then
            break
        fi
        alive "$RLD_PID" || die "b: rowlogd ended before $2 rows were read"
        [ $SECONDS -lt $deadline ] || die "b: no snapshot progress on /metrics"
        sleep 0.05
    done
    if [ "$1" = STATUS ]; then
        # `rowlog status` while the snapshot runs: its progress section with bar and ETA.
        "$ROWLOG" status --http "$HTTP" > "$WORK/status.txt" 2>&1 ||
            die "b: rowlog status failed: $(cat "$WORK/status.txt")"
        grep -q "snapshot   RUNNING: 0 of 1 tables done" "$WORK/status.txt" &&
            grep -q "rows/s, ETA" "$WORK/status.txt" && grep -q "itest.mid" "$WORK/status.txt" ||
            die "b: no snapshot progress in rowlog status: $(cat "$WORK/status.txt")"
        log "b: rowlog status: $(grep -A1 'snapshot   RUNNING' "$WORK/status.txt" | tr -s ' ')"
        return 0
    fi
    stop_rowlogd "$1"
    [ "$r" -lt $((MID_ROWS * 9 / 10)) ] || die "b: the snapshot was too fast to stop mid-way"
    log "b: SIG$1 at about $r of $MID_ROWS rows"
}
ROWLOGD_TEST_SNAPSHOT_CHUNK_DELAY_US=1000 start_rowlogd "$WORK/data-b" "" \
    --include 'itest\.mid' --snapshot-chunk-rows 10 --commit-interval-ms 5
interrupt_at STATUS $((MID_ROWS / 20))
interrupt_at TERM $((MID_ROWS / 10))
grep -q "snapshot: stopped, progress committed" "$LOGF" || die "b: no progress commit at SIGTERM"
ROWLOGD_TEST_SNAPSHOT_CHUNK_DELAY_US=1000 start_rowlogd "$WORK/data-b" "" \
    --include 'itest\.mid' --snapshot-chunk-rows 10 --commit-interval-ms 5
wait_log "snapshot: resuming" 60
interrupt_at KILL $((MID_ROWS / 2))
start_rowlogd "$WORK/data-b" "snapshot: complete" --include 'itest\.mid' \
    --snapshot-chunk-rows 10
grep -q "snapshot: resuming" "$LOGF" || die "b: the restart did not resume the snapshot"
this_run=$(sed -n 's/.*snapshot: complete, \([0-9]*\) records this run.*/\1/p' "$LOGF")
[ -n "$this_run" ] && [ "$this_run" -lt "$MID_ROWS" ] ||
    die "b: the restart read $this_run rows, not only the rest of $MID_ROWS"
log "b: the restart read $this_run rows"
read_topic rowlog.itest.mid "$WORK/mid.jsonl"
sql -N -B -e "SELECT id, v, s FROM itest.mid ORDER BY id" > "$WORK/mid.tsv" || die "select"
python3 "$HERE/snapshot_check.py" "$WORK/mid.jsonl" "$WORK/mid.tsv" --strict \
    --rows-r "$MID_ROWS" || die "b: the resumed snapshot is not exact"
stop_rowlogd TERM
log "b passed ($((SECONDS - T0)) s)"

fi

if want c; then
# ---- c
log "c: --snapshot when-needed after a purge"
start_rowlogd "$WORK/data-c" "snapshot: complete" --include 'itest\.small' \
    --snapshot when-needed
sql -e "UPDATE itest.small SET v = v + 1 WHERE id <= 10" || die "update"
wait_caught_up
read_topic rowlog.itest.small "$WORK/small1.jsonl"
END1=$(wc -l < "$WORK/small1.jsonl")
[ "$END1" -eq 2010 ] || die "c: $END1 records before the purge, want 2000 + 10"
stop_rowlogd TERM
sql << EOF || die "changes and purge"
UPDATE itest.small SET v = v + 100 WHERE id BETWEEN 100 AND 200;
DELETE FROM itest.small WHERE id > 1900;
INSERT INTO itest.small VALUES (3000, 1, 'gap');
FLUSH BINARY LOGS;
EOF
# The server keeps a file while a binlog checkpoint still uses it: repeat until it is gone.
last=$(sql -N -B -e "SHOW MASTER STATUS" | cut -f1)
deadline=$((SECONDS + 30))
until sql -e "PURGE BINARY LOGS TO '$last'" 2> /dev/null &&
    [ "$(sql -N -B -e 'SHOW BINARY LOGS' | wc -l)" -eq 1 ]; do
    [ $SECONDS -lt $deadline ] || die "c: PURGE BINARY LOGS TO '$last' left older files"
    sleep 0.2
done
start_rowlogd "$WORK/data-c" "snapshot: complete" --include 'itest\.small' \
    --snapshot when-needed
grep -q "taking a new snapshot" "$LOGF" || die "c: no new snapshot after the purge"
sql -e "UPDATE itest.small SET v = v + 1 WHERE id = 1" || die "update"
wait_caught_up
read_topic rowlog.itest.small "$WORK/small2.jsonl"
sql -N -B -e "SELECT id, v, s FROM itest.small ORDER BY id" > "$WORK/small.tsv" || die "select"
rows=$(wc -l < "$WORK/small.tsv")
python3 "$HERE/snapshot_check.py" "$WORK/small2.jsonl" "$WORK/small.tsv" --strict \
    --from-offset "$END1" --rows-r "$rows" || die "c: the new snapshot does not give the table"
stop_rowlogd TERM
log "c passed ($((SECONDS - T0)) s)"

fi

STATUS=0
log "PASS in $((SECONDS - T0)) s"
