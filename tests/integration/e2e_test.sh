#!/usr/bin/env bash
# e2e_test.sh ROWLOGD ROWLOG SCRIPTS_DIR - rowlog end to end against a real MariaDB.
#
#  1. a sandbox MariaDB (scripts/mariadb-sandbox.sh) on a free port in a temp dir; schema itest
#  2. rowlogd --partitions 3 --compression lz4, started before the workload, waited for
#  3. the deterministic workload (workload.py, seed printed) in batches as `app` over TCP
#  4. mid-workload: SIGTERM rowlogd while a batch is running (exit status must be 0), run more
#     batches while it is down, start it again on the same data dir (resume from checkpoint)
#  5. wait until `rowlog topics` shows every expected record
#  6. read every partition with kcat (-X check.crcs=true -J) and everything with rowlog tail;
#     checker.py asserts exactly-once per-key order, envelopes, counts and final state vs SELECT
#  7. kcat -L lists every topic with 3 partitions
#  8. SIGTERM rowlogd (exit 0), stop the sandbox
#
# Environment: ITEST_SEED (default random), ITEST_BATCHES (12), ITEST_CHANGES_PER_BATCH (1100),
# ITEST_CATCHUP_TIMEOUT (s, 240), ITEST_KEEP=1 keeps the temp dir, ITEST_ARTIFACTS (where logs
# and reader output are copied on failure; default ./integration_e2e.artifacts),
# ITEST_STOP_SIGNAL=KILL makes the mid-workload stop a crash instead (not part of ctest's run:
# the same exactly-once checks then test crash recovery).
# Exit status: 0 pass, 1 fail, 77 skip (MariaDB tools or kcat not installed).
set -uo pipefail

ROWLOGD=${1:?usage: e2e_test.sh ROWLOGD ROWLOG SCRIPTS_DIR}
ROWLOG=${2:?usage: e2e_test.sh ROWLOGD ROWLOG SCRIPTS_DIR}
SCRIPTS=${3:?usage: e2e_test.sh ROWLOGD ROWLOG SCRIPTS_DIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SANDBOX="$SCRIPTS/mariadb-sandbox.sh"
PARTITIONS=3
BATCHES=${ITEST_BATCHES:-12}
PER_BATCH=${ITEST_CHANGES_PER_BATCH:-1100}
CATCHUP_TIMEOUT=${ITEST_CATCHUP_TIMEOUT:-240}
MID_SIGNAL=${ITEST_STOP_SIGNAL:-TERM}
ARTIFACTS=${ITEST_ARTIFACTS:-$PWD/integration_e2e.artifacts}

log() { echo "[e2e $(date +%H:%M:%S)] $*"; }

. "$(dirname "$0")/lib.sh"

rl_require_tools mariadbd mariadb mariadb-admin mariadb-install-db mariadb-binlog kcat python3 \
    setsid timeout
rl_require_bins "$ROWLOGD" "$ROWLOG"

WORK=$(mktemp -d /tmp/rl-e2e.XXXXXX)
RLD_PID=""
BATCH_PID=""
RLD_RUN=0
STATUS=1


save_artifacts() {
    mkdir -p "$ARTIFACTS" || return
    cp "$WORK"/rowlogd.*.log "$WORK"/*.txt "$WORK"/*.json "$WORK"/tail.jsonl "$ARTIFACTS"/ \
        2> /dev/null
    cp "$WORK/db/error.log" "$ARTIFACTS/mariadb-error.log" 2> /dev/null
    cp "$WORK/wl/expected.json" "$ARTIFACTS/expected.json" 2> /dev/null
    [ -d "$WORK/kcat" ] && cp -r "$WORK/kcat" "$ARTIFACTS/" 2> /dev/null
    echo "[e2e] logs and reader output kept in $ARTIFACTS"
}

cleanup() {
    if alive "$BATCH_PID"; then kill -TERM "$BATCH_PID" 2> /dev/null; fi
    if alive "$RLD_PID"; then
        kill -TERM "$RLD_PID" 2> /dev/null
        if ! wait_exit "$RLD_PID" 30; then
            echo "[e2e] rowlogd $RLD_PID ignored SIGTERM for 30 s; killing it"
            kill -KILL "$RLD_PID" 2> /dev/null
        fi
    fi
    "$SANDBOX" stop "$WORK/db" > /dev/null 2>&1
    if [ "$STATUS" -ne 0 ]; then
        rl_show_logs 40 "$WORK"/rowlogd.*.log
        save_artifacts
    fi
    if [ "${ITEST_KEEP:-0}" = 1 ]; then
        echo "[e2e] ITEST_KEEP=1: work directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'echo "[e2e] interrupted"; exit 130' INT TERM

die() { echo "FAIL: $*"; exit 1; }

read -r DBPORT KPORT < <(free_ports 2)
BOOT="127.0.0.1:$KPORT"

SEED=${ITEST_SEED:-$(python3 -c 'import random; print(random.randrange(1, 2**31))')}
log "seed $SEED (reproduce with ITEST_SEED=$SEED); work dir $WORK"
STOP_AT=$((BATCHES / 3))               # this batch runs while rowlogd receives SIGTERM
DOWN_UNTIL=$((STOP_AT + BATCHES / 4))  # batches after STOP_AT up to here run while it is down
python3 "$HERE/workload.py" gen --seed "$SEED" --out "$WORK/wl" --batches "$BATCHES" \
    --changes-per-batch "$PER_BATCH" --slow-batch "$STOP_AT" || die "workload generation"
TOTAL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["total"])' \
    "$WORK/wl/expected.json")
mapfile -t TOPICS < <(python3 -c '
import json, sys
for t in json.load(open(sys.argv[1]))["tables"].values():
    print(t["topic"])' "$WORK/wl/expected.json")

# 1. MariaDB
log "starting MariaDB on 127.0.0.1:$DBPORT"
"$SANDBOX" start "$WORK/db" "$DBPORT" || die "sandbox start (see integration_sandbox)"
"$SANDBOX" sql "$WORK/db" < "$WORK/wl/schema.sql" || die "schema"

# 2. rowlogd
start_rowlogd() {
    RLD_RUN=$((RLD_RUN + 1))
    local logf="$WORK/rowlogd.$RLD_RUN.log"
    log "starting rowlogd (run $RLD_RUN), Kafka on $BOOT, log $(basename "$logf")"
    "$ROWLOGD" --source "mysql://rowlog:rowlogpw@127.0.0.1:$DBPORT" \
        --data-dir "$WORK/rowlog-data" --listen "$BOOT" --partitions "$PARTITIONS" \
        --compression lz4 --server-id 4242 --http off --log-level info > "$logf" 2>&1 &
    RLD_PID=$!
    local deadline=$((SECONDS + 60))
    while :; do
        if ! alive "$RLD_PID"; then
            wait_exit "$RLD_PID" 1
            die "rowlogd exited with status $EXIT_RC while starting"
        fi
        if grep -q "streaming from" "$logf" && kcat -b "$BOOT" -L -m 2 > /dev/null 2>&1; then
            break
        fi
        [ $SECONDS -lt $deadline ] || die "rowlogd not ready after 60 s (no 'streaming from' \
in its log, or kcat -L does not answer)"
        sleep 0.2
    done
    log "rowlogd ready (pid $RLD_PID): $(grep -m1 'streaming from' "$logf")"
}

stop_rowlogd() {  # [SIGNAL]: TERM (default) must give exit status 0; KILL simulates a crash
    local sig=${1:-TERM}
    log "SIG$sig to rowlogd (pid $RLD_PID)"
    kill -"$sig" "$RLD_PID" || die "rowlogd $RLD_PID is not running"
    wait_exit "$RLD_PID" 60 || die "rowlogd did not exit within 60 s of SIG$sig"
    if [ "$sig" = TERM ]; then
        [ "$EXIT_RC" -eq 0 ] || die "rowlogd exited with status $EXIT_RC after SIGTERM (want 0)"
    fi
    log "rowlogd exited with status $EXIT_RC"
    RLD_PID=""
}

run_batch() {  # index
    local f
    f=$(printf '%s/wl/batch_%03d.sql' "$WORK" "$1")
    if ! mariadb --no-defaults --default-character-set=utf8mb4 -h127.0.0.1 -P"$DBPORT" \
            -uapp -papppw itest < "$f" > "$WORK/batch.$1.out" 2>&1; then
        echo "---- $(basename "$f") failed: ----"
        tail -c 1500 "$WORK/batch.$1.out"
        echo
        return 1
    fi
}

start_rowlogd

# 3./4. the workload, with a restart of rowlogd in the middle
log "workload: $BATCHES batches, $TOTAL change records expected"
for ((i = 0; i < BATCHES; i++)); do
    if [ "$i" -eq "$STOP_AT" ]; then
        log "batch $i in the background; stopping rowlogd while it runs"
        run_batch "$i" &
        BATCH_PID=$!
        sleep 0.5
        stop_rowlogd "$MID_SIGNAL"
        if alive "$BATCH_PID"; then
            log "batch $i still committing: rowlogd was stopped mid-workload"
        else
            log "warning: batch $i ended before rowlogd stopped (slow machine?)"
        fi
        wait "$BATCH_PID" || die "batch $i"
        BATCH_PID=""
        continue
    fi
    if [ "$i" -eq $((DOWN_UNTIL + 1)) ]; then
        start_rowlogd
    fi
    run_batch "$i" || die "batch $i"
    [ "$i" -gt "$STOP_AT" ] && [ "$i" -le "$DOWN_UNTIL" ] && log "batch $i done (rowlogd down)"
done
[ -n "$RLD_PID" ] || start_rowlogd
log "workload done"

# 5. catch up
CAUGHT_UP=0
deadline=$((SECONDS + CATCHUP_TIMEOUT))
while [ $SECONDS -lt $deadline ]; do
    if timeout 30 "$ROWLOG" topics --bootstrap "$BOOT" > "$WORK/topics.txt" 2> "$WORK/topics.err"
    then
        have=$(awk -F'\t' -v p="rowlog.itest." 'index($1, p) == 1 { s += $4 } END { print s + 0 }' \
            "$WORK/topics.txt")
        if [ "$have" -eq "$TOTAL" ]; then CAUGHT_UP=1; break; fi
        if [ "$have" -gt "$TOTAL" ]; then
            log "the log holds $have records, more than the $TOTAL committed"
            break
        fi
    fi
    alive "$RLD_PID" || { wait_exit "$RLD_PID" 1; die "rowlogd died (status $EXIT_RC)"; }
    sleep 0.5
done
if [ "$CAUGHT_UP" -eq 1 ]; then
    log "log caught up: $TOTAL records"
else
    log "NOT caught up within ${CATCHUP_TIMEOUT}s: LOG_END sum ${have:-?}, expected $TOTAL"
    cat "$WORK/topics.txt" "$WORK/topics.err" 2> /dev/null
    log "reading anyway so the checker can name the differences"
fi

# 6./7. read everything back
kcat -b "$BOOT" -L -J > "$WORK/metadata.json" 2> "$WORK/metadata.err" \
    || die "kcat -L: $(cat "$WORK/metadata.err")"
mkdir -p "$WORK/kcat"
READ_FAIL=0
for t in "${TOPICS[@]}"; do
    for ((p = 0; p < PARTITIONS; p++)); do
        if ! timeout 300 kcat -C -b "$BOOT" -t "$t" -p "$p" -o beginning -e -q \
                -X check.crcs=true -J > "$WORK/kcat/$t.$p.jsonl" 2> "$WORK/kcat/$t.$p.err"; then
            echo "kcat -C $t partition $p failed: $(tail -n 5 "$WORK/kcat/$t.$p.err")"
            READ_FAIL=1
        fi
    done
done
if ! timeout 300 "$ROWLOG" tail --bootstrap "$BOOT" --from beginning "${TOPICS[@]}" \
        > "$WORK/tail.jsonl" 2> "$WORK/tail.err"; then
    echo "rowlog tail failed: $(tail -n 5 "$WORK/tail.err")"
    READ_FAIL=1
fi
timeout 30 "$ROWLOG" topics --bootstrap "$BOOT" > "$WORK/topics.txt" 2> "$WORK/topics.err" \
    || { echo "rowlog topics failed: $(cat "$WORK/topics.err")"; READ_FAIL=1; }
log "read $(cat "$WORK"/kcat/*.jsonl | wc -l) records with kcat, $(wc -l < "$WORK/tail.jsonl") \
with rowlog tail"

log "checking"
python3 "$HERE/checker.py" --expected "$WORK/wl/expected.json" --kcat-dir "$WORK/kcat" \
    --tail "$WORK/tail.jsonl" --metadata "$WORK/metadata.json" --topics "$WORK/topics.txt" \
    --partitions "$PARTITIONS" --db-host 127.0.0.1 --db-port "$DBPORT" \
    --binlog-dir "$WORK/db/data" 2>&1 | tee "$WORK/checker.txt"
CHECK_RC=${PIPESTATUS[0]}

# 8. stop
stop_rowlogd
"$SANDBOX" stop "$WORK/db" > /dev/null || die "sandbox stop"

# Sanitizer builds (-DRL_SANITIZE=ON): UBSan reports without changing the exit status.
if grep -l -E "runtime error:|AddressSanitizer|LeakSanitizer" "$WORK"/rowlogd.*.log \
        "$WORK"/*.err "$WORK"/kcat/*.err > "$WORK/sanitizer.txt" 2> /dev/null; then
    grep -h -m5 -E "runtime error:|AddressSanitizer|LeakSanitizer" $(cat "$WORK/sanitizer.txt")
    die "sanitizer reports in: $(tr '\n' ' ' < "$WORK/sanitizer.txt")"
fi
[ "$READ_FAIL" -eq 0 ] || die "a reader failed (see above)"
[ "$CAUGHT_UP" -eq 1 ] || die "the log did not catch up with the workload"
[ "$CHECK_RC" -eq 0 ] || die "checker found differences (seed $SEED)"
STATUS=0
log "PASS (seed $SEED, $TOTAL records, rowlogd restarted once)"
