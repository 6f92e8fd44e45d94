#!/usr/bin/env bash
# snapshot_test.sh ROWLOGD ROWLOG SCRIPTS_DIR - rowlogd's initial snapshot against a real MariaDB
# (docs/snapshots.md "rowlogd").
#
#  a. itest.big (ITEST_SNAPSHOT_ROWS rows, default 300000, filled from MariaDB's SEQUENCE
#     engine) is snapshotted while a workload updates, inserts and deletes in it; --exclude
#     leaves out itest.skip_me, which the workload also writes. Afterwards the topic, applied
#     in order with every change's before image checked against the state it applies to
#     (snapshot_check.py --strict), equals SELECT of the table: no change missing or doubled.
#  d. itest.skip_me has no topic (neither snapshot nor stream records).
#  b. itest.mid is snapshotted in chunks of 2 rows (a separate data dir, slow enough to catch
#     mid-way); at 5% (rowlog_snapshot_rows_read on /metrics) `rowlog status` must show the
#     snapshot's progress bar and ETA; rowlogd gets SIGTERM at 10% (it must exit 0 with its
#     progress committed), resumes, gets SIGKILL at 50%; the last restart logs that it
#     resumes, reads fewer rows than the table holds, and the topic ends with every row
#     exactly once (strict check, exactly N 'r' records).
#  c. --snapshot when-needed: with rowlogd stopped, rows change and the binlog is purged; the
#     restart takes a new snapshot instead of failing: the records it appends reduce to the
#     table, with one 'r' per row.
#
# Environment: ITEST_SNAPSHOT_ROWS (default 300000: with 1000000 the test passes too, but reading
# and checking a million records takes over a minute more than ctest's budget allows on two
# loaded cores; the snapshot itself reads 1M rows in about 1.5 s), ITEST_KEEP=1 keeps the
# temp dir.
# Exit status: 0 pass, 1 fail, 77 skip (MariaDB tools not installed).
set -uo pipefail

ROWLOGD=${1:?usage: snapshot_test.sh ROWLOGD ROWLOG SCRIPTS_DIR}
ROWLOG=${2:?usage: snapshot_test.sh ROWLOGD ROWLOG SCRIPTS_DIR}
SCRIPTS=${3:?usage: snapshot_test.sh ROWLOGD ROWLOG SCRIPTS_DIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SANDBOX="$SCRIPTS/mariadb-sandbox.sh"
ROWS=${ITEST_SNAPSHOT_ROWS:-300000}
MID_ROWS=100000

log() { echo "[snapshot $(date +%H:%M:%S)] $*"; }

for tool in mariadbd mariadb mariadb-admin mariadb-install-db python3 curl setsid timeout; do
    if ! command -v "$tool" > /dev/null 2>&1 && ! [ -x "/usr/sbin/$tool" ]; then
        echo "SKIP: $tool not installed (bash scripts/install-deps.sh)"
        exit 77
    fi
done
for bin in "$ROWLOGD" "$ROWLOG"; do
    [ -x "$bin" ] || { echo "FAIL: $bin is not an executable (build first)"; exit 1; }
done

WORK=$(mktemp -d /tmp/rl-snapshot.XXXXXX)
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
        echo "[snapshot] ITEST_KEEP=1: work directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'echo "[snapshot] interrupted"; exit 130' INT TERM

die() { echo "FAIL: $*"; exit 1; }

read -r DBPORT KPORT HPORT < <(python3 -c '
import socket
s = [socket.socket() for _ in range(3)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
BOOT="127.0.0.1:$KPORT"

sql() { "$SANDBOX" sql "$WORK/db" "$@"; }

# start_rowlogd DATA_DIR READY_PATTERN ARGS...: starts rowlogd in the background, waits until
# its log shows READY_PATTERN ("" = do not wait).
start_rowlogd() {
    local dir=$1 ready=$2
    shift 2
    RLD_RUN=$((RLD_RUN + 1))
    LOGF="$WORK/rowlogd.$RLD_RUN.log"
    log "rowlogd run $RLD_RUN: $*"
    "$ROWLOGD" --source "mysql://rowlog:rowlogpw@127.0.0.1:$DBPORT" --data-dir "$dir" \
        --listen "$BOOT" --partitions 1 --server-id 4343 --http "127.0.0.1:$HPORT" \
        --log-level info "$@" > "$LOGF" 2>&1 &
    RLD_PID=$!
    [ -n "$ready" ] || return 0
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

# read_topic TOPIC OUT: every record of the topic as rowlog tail json lines.
read_topic() {
    timeout 300 "$ROWLOG" tail --bootstrap "$BOOT" --from beginning "$1" > "$2" \
        2> "$2.err" || die "rowlog tail $1: $(tail -n 3 "$2.err")"
}

# wait_caught_up: until the primary's GTID position is in rowlogd's metrics.
wait_caught_up() {
    local want deadline=$((SECONDS + 120))
    want=$(sql -N -B -e "SELECT @@gtid_binlog_pos")
    while :; do
        if curl -sf "http://127.0.0.1:$HPORT/metrics" > "$WORK/metrics.txt" 2> /dev/null &&
            python3 - "$want" "$WORK/metrics.txt" << 'EOF'
import re, sys
want = {}
for g in sys.argv[1].split(","):
    d, s, n = g.split("-")
    want[d] = int(n)
have = {}
for line in open(sys.argv[2]):
    m = re.match(r'rowlog_source_gtid_sequence\{(.*)\} (\d+)', line)
    if m:
        d = re.search(r'gtid_domain="([^"]+)"', m.group(1))
        if d:
            have[d.group(1)] = max(have.get(d.group(1), 0), int(m.group(2)))
sys.exit(0 if all(have.get(d, 0) >= n for d, n in want.items()) else 1)
EOF
        then
            sleep 1 # the position is published before its group commit is durable
            return 0
        fi
        [ $SECONDS -lt $deadline ] || die "rowlogd did not reach the primary's GTID $want"
        sleep 0.3
    done
}

metric() {  # NAME LABEL_SUBSTRING: value of the first matching sample, or empty
    curl -sf "http://127.0.0.1:$HPORT/metrics" 2> /dev/null |
        awk -v n="$1" -v l="$2" 'index($0, n) == 1 && index($0, l) > 0 { print $NF; exit }'
}

T0=$SECONDS
log "starting MariaDB on 127.0.0.1:$DBPORT; work dir $WORK"
"$SANDBOX" start "$WORK/db" "$DBPORT" || die "sandbox start"
sql << EOF || die "schema"
CREATE DATABASE IF NOT EXISTS itest;
USE itest;
CREATE TABLE big (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(40) NOT NULL) ENGINE=InnoDB;
CREATE TABLE skip_me (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(40) NOT NULL);
CREATE TABLE mid (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(40) NOT NULL);
CREATE TABLE small (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(40) NOT NULL);
INSERT INTO big SELECT seq, seq % 1000, CONCAT('row-', seq) FROM seq_1_to_$ROWS;
INSERT INTO skip_me SELECT seq, seq, 'x' FROM seq_1_to_1000;
INSERT INTO mid SELECT seq, seq * 7, CONCAT('m', seq) FROM seq_1_to_$MID_ROWS;
INSERT INTO small SELECT seq, seq, 's' FROM seq_1_to_2000;
EOF
log "tables filled ($ROWS rows in itest.big) in $((SECONDS - T0)) s"

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

# ---- b
log "b: itest.mid in chunks of 2: SIGTERM mid-way, resume, SIGKILL mid-way, resume"
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
        "$ROWLOG" status --http "127.0.0.1:$HPORT" > "$WORK/status.txt" 2>&1 ||
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
start_rowlogd "$WORK/data-b" "" --include 'itest\.mid' --snapshot-chunk-rows 2 \
    --commit-interval-ms 5
interrupt_at STATUS $((MID_ROWS / 20))
interrupt_at TERM $((MID_ROWS / 10))
grep -q "snapshot: stopped, progress committed" "$LOGF" || die "b: no progress commit at SIGTERM"
start_rowlogd "$WORK/data-b" "" --include 'itest\.mid' --snapshot-chunk-rows 2 \
    --commit-interval-ms 5
wait_log "snapshot: resuming" 60
interrupt_at KILL $((MID_ROWS / 2))
start_rowlogd "$WORK/data-b" "snapshot: complete" --include 'itest\.mid' \
    --snapshot-chunk-rows 2
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

STATUS=0
log "PASS in $((SECONDS - T0)) s"
