#!/usr/bin/env bash
# crash_test.sh ROWLOGD ROWLOG SCRIPTS_DIR - exactly once into the log across SIGKILLs.
#
#  1. a sandbox MariaDB; the gen-txns workload (workload.py): >= 100,000 committed transactions
#     (mostly one-row autocommit statements; inserts, updates, deletes, primary-key changes,
#     multi-statement and rolled-back transactions) over three tables, its sessions switching
#     among GTID domains 0, 1 and 2 (SET SESSION gtid_domain_id, so the batches run as root)
#  2. rowlogd --partitions 4, killed with SIGKILL at random moments (intervals drawn from the
#     seed; some land during startup and recovery) and restarted on the same data dir each
#     time, at least ITEST_KILLS (20) times while the workload commits (the batches wait for
#     the kills so that they spread over the whole workload)
#  3. meanwhile one kcat consumer per partition (following from the beginning) records every
#     record it is served; kcat exits when rowlogd goes away and is restarted from the offset
#     after the last record it printed
#  4. after the workload and the last kill: wait until the log holds every committed change,
#     read every partition once more with kcat, and check (checker.py): every committed change
#     exactly once, in commit order per key, final state equal to SELECT, all three GTID
#     domains followed, and every (topic, partition, offset) a consumer saw during the crashes
#     is in the final log with the same key and value
#  5. SIGTERM rowlogd (exit status 0)
#
# Environment: ITEST_SEED (default random; printed), ITEST_KILLS (20), ITEST_BATCHES (20),
# ITEST_TXNS_PER_BATCH (5200), ITEST_CATCHUP_TIMEOUT (s, 120), ITEST_DEADLINE (s, 840: then
# the test stops and cleans up, below ctest's TIMEOUT), ITEST_KEEP=1 keeps the work
# dir, ITEST_ARTIFACTS (where logs go on failure, default ./integration_crash.artifacts).
# Exit status: 0 pass, 1 fail, 77 skip (MariaDB tools or kcat not installed).
set -uo pipefail

ROWLOGD=${1:?usage: crash_test.sh ROWLOGD ROWLOG SCRIPTS_DIR}
ROWLOG=${2:?usage: crash_test.sh ROWLOGD ROWLOG SCRIPTS_DIR}
SCRIPTS=${3:?usage: crash_test.sh ROWLOGD ROWLOG SCRIPTS_DIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SANDBOX="$SCRIPTS/mariadb-sandbox.sh"
PARTITIONS=4
KILLS=${ITEST_KILLS:-20}
BATCHES=${ITEST_BATCHES:-20}
PER_BATCH=${ITEST_TXNS_PER_BATCH:-5200}
CATCHUP_TIMEOUT=${ITEST_CATCHUP_TIMEOUT:-120}
ARTIFACTS=${ITEST_ARTIFACTS:-$PWD/integration_crash.artifacts}
DOMAINS=0,1,2
WAIT_POLL_S=0.05   # wait_exit (lib.sh) polls rowlogd's exit after each SIGKILL

log() { echo "[crash $(date +%H:%M:%S)] $*"; }

. "$(dirname "$0")/lib.sh"

rl_require_tools mariadbd mariadb mariadb-admin mariadb-install-db mariadb-binlog kcat python3 \
    setsid timeout
rl_require_bins "$ROWLOGD" "$ROWLOG"

WORK=$(mktemp -d /tmp/rl-crash.XXXXXX)
RLD_PID=""
WL_PID=""
CONSUMER_PIDS=()
RLD_RUN=0
STATUS=1

# Stops the consumer loops and their kcat processes (by the PIDs they recorded).
stop_consumers() {
    touch "$WORK/consumers.stop"
    local f pid deadline=$((SECONDS + 20)) left
    while :; do
        for f in "$WORK"/consumer.*.pid; do
            [ -e "$f" ] || continue
            pid=$(cat "$f")
            alive "$pid" && kill -TERM "$pid" 2> /dev/null
        done
        left=0
        for pid in "${CONSUMER_PIDS[@]}"; do alive "$pid" && left=1; done
        [ "$left" -eq 1 ] && [ $SECONDS -lt $deadline ] || break
        sleep 0.2
    done
    for pid in "${CONSUMER_PIDS[@]}"; do
        alive "$pid" && kill -KILL "$pid" 2> /dev/null
        wait "$pid" 2> /dev/null
    done
    CONSUMER_PIDS=()
}

cleanup() {
    [ -n "${WATCHDOG_PID:-}" ] && kill -TERM "$WATCHDOG_PID" 2> /dev/null
    stop_consumers
    if alive "$WL_PID"; then kill -TERM "$WL_PID" 2> /dev/null; fi
    rl_stop "$RLD_PID" 30
    "$SANDBOX" stop "$WORK/db" > /dev/null 2>&1
    if [ "$STATUS" -ne 0 ]; then
        # shellcheck disable=SC2046 # the three newest logs; the names have no spaces
        rl_show_logs 30 $(ls -t "$WORK"/rowlogd.*.log 2> /dev/null | head -n 3)
        if mkdir -p "$ARTIFACTS"; then
            cp "$WORK"/rowlogd.*.log "$WORK"/*.txt "$WORK"/*.err "$ARTIFACTS"/ 2> /dev/null
            cp "$WORK/db/error.log" "$ARTIFACTS/mariadb-error.log" 2> /dev/null
            echo "[crash] logs kept in $ARTIFACTS"
        fi
    fi
    if [ "${ITEST_KEEP:-0}" = 1 ]; then
        echo "[crash] ITEST_KEEP=1: work directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
rl_watchdog crash "${ITEST_DEADLINE:-840}"
trap 'echo "[crash] interrupted"; exit 130' INT TERM

die() { echo "FAIL: $*"; exit 1; }

read -r DBPORT KPORT < <(free_ports 2)
BOOT="127.0.0.1:$KPORT"

SEED=${ITEST_SEED:-$(python3 -c 'import random; print(random.randrange(1, 2**31))')}
log "seed $SEED (reproduce with ITEST_SEED=$SEED); work dir $WORK"
python3 "$HERE/workload.py" gen-txns --seed "$SEED" --out "$WORK/wl" --batches "$BATCHES" \
    --txns-per-batch "$PER_BATCH" --domains "$DOMAINS" || die "workload generation"
read -r TOTAL TXNS < <(python3 -c '
import json, sys
e = json.load(open(sys.argv[1]))
print(e["total"], e["transactions"])' "$WORK/wl/expected.json")
mapfile -t TOPICS < <(python3 -c '
import json, sys
for t in json.load(open(sys.argv[1]))["tables"].values():
    print(t["topic"])' "$WORK/wl/expected.json")
# Kill intervals (s) from the seed: a quarter short (often during startup and recovery).
mapfile -t INTERVALS < <(python3 -c '
import random, sys
r = random.Random(int(sys.argv[1]) * 7 + 1)
for _ in range(int(sys.argv[2])):
    print("%.2f" % (r.uniform(0.05, 0.5) if r.random() < 0.25 else r.uniform(0.5, 2.5)))' \
    "$SEED" "$KILLS")

# 1. MariaDB. It is never crashed here, so its own commits need not reach the disk each time.
log "starting MariaDB on 127.0.0.1:$DBPORT"
SANDBOX_MARIADBD_ARGS="--innodb-flush-log-at-trx-commit=2" "$SANDBOX" start "$WORK/db" "$DBPORT" \
    > /dev/null || die "sandbox start (see integration_sandbox)"
"$SANDBOX" sql "$WORK/db" < "$WORK/wl/schema.sql" || die "schema"

# 2. rowlogd
start_rowlogd() {
    RLD_RUN=$((RLD_RUN + 1))
    # --http off: the metrics endpoint is not under test here, and its fixed default port
    # would collide between tests running in parallel.
    "$ROWLOGD" --source "mysql://rowlog:rowlogpw@127.0.0.1:$DBPORT" \
        --data-dir "$WORK/rowlog-data" --listen "$BOOT" --partitions "$PARTITIONS" \
        --compression lz4 --server-id 4243 --http off --heartbeat-ms 500 --log-level info \
        > "$WORK/rowlogd.$RLD_RUN.log" 2>&1 &
    RLD_PID=$!
}

# wait_ready SECONDS: the current rowlogd streams and answers Kafka metadata requests.
wait_ready() {
    local deadline=$((SECONDS + $1)) logf="$WORK/rowlogd.$RLD_RUN.log"
    while :; do
        if ! alive "$RLD_PID"; then
            wait_exit "$RLD_PID" 1
            die "rowlogd (run $RLD_RUN) exited with status $EXIT_RC: $(tail -n 3 "$logf")"
        fi
        if grep -q "streaming from" "$logf" && kcat -b "$BOOT" -L -m 2 > /dev/null 2>&1; then
            return 0
        fi
        [ $SECONDS -lt $deadline ] || die "rowlogd (run $RLD_RUN) not ready after $1 s"
        sleep 0.1
    done
}

start_rowlogd
wait_ready 60
log "rowlogd ready: $(grep -m1 'streaming from' "$WORK/rowlogd.1.log")"

# 3. the workload, batch after batch in the background, as root (gtid_domain_id needs SUPER)
log "workload: $BATCHES batches, $TXNS transactions, $TOTAL change records expected"
# Batch i > 0 waits for kill number KILLS*i/BATCHES + 1, so the kills spread over the whole
# workload and at least KILLS of them land while it commits, however fast the machine.
echo 0 > "$WORK/kills"
(
    for ((i = 0; i < BATCHES; i++)); do
        if [ "$i" -gt 0 ]; then
            need=$((KILLS * i / BATCHES + 1))
            deadline=$((SECONDS + 300))
            while [ "$(cat "$WORK/kills")" -lt "$need" ]; do
                [ $SECONDS -lt $deadline ] || { echo "no kill $need in 300 s" > "$WORK/workload.err"; exit 1; }
                sleep 0.1
            done
        fi
        f=$(printf '%s/wl/batch_%03d.sql' "$WORK" "$i")
        if ! "$SANDBOX" sql "$WORK/db" itest < "$f" > "$WORK/batch.out" 2>&1; then
            echo "batch $i failed: $(tail -c 1000 "$WORK/batch.out")" > "$WORK/workload.err"
            exit 1
        fi
        echo "$i" > "$WORK/workload.progress"
    done
) &
WL_PID=$!

# Consumers: one kcat per partition, started once the topics exist. kcat exits when its
# broker goes away ("all brokers are down"); the loop then starts it again from the offset after
# the last record it printed, as a consumer resuming from its position does. Output is
# unbuffered (-u) so a kill loses at most a partial last line (the checker forgives that).
start_consumer() {  # topic partition
    local t=$1 p=$2 id="$1.$2"
    (
        run=0
        next=beginning
        while [ ! -e "$WORK/consumers.stop" ]; do
            run=$((run + 1))
            out="$WORK/seen/$id.$run.jsonl"
            kcat -C -b "$BOOT" -t "$t" -p "$p" -o "$next" -J -u -q \
                -X reconnect.backoff.ms=50 -X reconnect.backoff.max.ms=500 \
                -X check.crcs=true > "$out" 2>> "$WORK/consumer.$id.err" &
            echo $! > "$WORK/consumer.$id.pid"
            wait $!
            rc=$?
            # kcat -J puts the record's offset before its key and payload, whose quotes are
            # escaped, so the first "offset": of the last whole line is the record's.
            last=$(tail -n 2 "$out" | grep '}$' | tail -n 1 | grep -o '"offset":[0-9]*' |
                   head -n 1 | cut -d: -f2)
            [ -n "$last" ] && next=$((last + 1))
            echo "run $run exited with $rc; next offset $next" >> "$WORK/consumer.$id.err"
            sleep 0.1
        done
    ) &
    CONSUMER_PIDS+=($!)
}
mkdir -p "$WORK/seen"
CONSUMERS_STARTED=0

# 4. the kills (the last batch waits for the last of them, so all land during the workload)
KILLED_DURING_WL=0
for ((k = 0; k < KILLS; k++)); do
    sleep "${INTERVALS[$k]}"
    if [ "$CONSUMERS_STARTED" -eq 0 ]; then
        # The topics appear with their first records; kcat wants them to exist.
        if timeout 10 "$ROWLOG" topics --bootstrap "$BOOT" > "$WORK/topics.txt" 2> /dev/null &&
            [ "$(cut -f1 "$WORK/topics.txt" | sort -u | grep -c '^rowlog\.itest\.')" -eq \
              "${#TOPICS[@]}" ]; then
            for t in "${TOPICS[@]}"; do
                for ((p = 0; p < PARTITIONS; p++)); do start_consumer "$t" "$p"; done
            done
            CONSUMERS_STARTED=1
            log "consumers started"
        fi
    fi
    if ! alive "$RLD_PID"; then
        wait_exit "$RLD_PID" 1
        die "rowlogd (run $RLD_RUN) exited by itself with status $EXIT_RC before kill $((k + 1)):" \
            "$(tail -n 3 "$WORK/rowlogd.$RLD_RUN.log")"
    fi
    alive "$WL_PID" && KILLED_DURING_WL=$((KILLED_DURING_WL + 1))
    state="running"
    grep -q "streaming from" "$WORK/rowlogd.$RLD_RUN.log" || state="starting up"
    kill -KILL "$RLD_PID"
    wait_exit "$RLD_PID" 30 || die "rowlogd $RLD_PID did not die of SIGKILL within 30 s"
    echo $((k + 1)) > "$WORK/kills.tmp" && mv "$WORK/kills.tmp" "$WORK/kills"
    log "kill $((k + 1))/$KILLS after ${INTERVALS[$k]} s (rowlogd run $RLD_RUN $state," \
        "workload done to batch $(cat "$WORK/workload.progress" 2> /dev/null || echo -)/$BATCHES)"
    start_rowlogd
done

log "waiting for the workload"
wait_exit "$WL_PID" 600 || die "workload did not finish within 600 s"
[ "$EXIT_RC" -eq 0 ] || die "workload: $(cat "$WORK/workload.err" 2> /dev/null)"
WL_PID=""
log "workload done; $KILLED_DURING_WL of $KILLS kills landed while it was committing"
[ "$KILLED_DURING_WL" -ge "$KILLS" ] ||
    die "only $KILLED_DURING_WL kills during the workload, want $KILLS"
wait_ready 60

# 5. catch up
CAUGHT_UP=0
have=0
deadline=$((SECONDS + CATCHUP_TIMEOUT))
while [ $SECONDS -lt $deadline ]; do
    if timeout 30 "$ROWLOG" topics --bootstrap "$BOOT" > "$WORK/topics.txt" 2> "$WORK/topics.err"
    then
        have=$(awk -F'\t' 'index($1, "rowlog.itest.") == 1 { s += $4 } END { print s + 0 }' \
            "$WORK/topics.txt")
        if [ "$have" -eq "$TOTAL" ]; then CAUGHT_UP=1; break; fi
        [ "$have" -le "$TOTAL" ] || { log "the log holds $have records, more than $TOTAL"; break; }
    fi
    alive "$RLD_PID" || { wait_exit "$RLD_PID" 1; die "rowlogd died (status $EXIT_RC)"; }
    sleep 0.5
done
[ "$CAUGHT_UP" -eq 1 ] && log "log caught up: $TOTAL records" ||
    log "NOT caught up within ${CATCHUP_TIMEOUT}s: $have of $TOTAL records; checking anyway"

# The consumers get up to 60 s to reach the end too, then stop.
if [ "$CONSUMERS_STARTED" -eq 1 ]; then
    deadline=$((SECONDS + 60))
    while [ $SECONDS -lt $deadline ]; do
        # Distinct offsets seen (kcat restarts read from the beginning again).
        n=$(cat "$WORK"/seen/*.jsonl | python3 -c '
import json, sys
seen = set()
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    seen.add((m["topic"], m["partition"], m["offset"]))
print(len(seen))')
        [ "$n" -ge "$TOTAL" ] && break
        sleep 1
    done
fi
stop_consumers
log "consumers saw $(cat "$WORK"/seen/*.jsonl 2> /dev/null | wc -l) records"
[ "$CONSUMERS_STARTED" -eq 1 ] || die "the consumers never started (topics missing)"

# 6. read everything back and check
mkdir -p "$WORK/kcat"
READ_FAIL=0
for t in "${TOPICS[@]}"; do
    for ((p = 0; p < PARTITIONS; p++)); do
        if ! timeout 300 kcat -C -b "$BOOT" -t "$t" -p "$p" -o beginning -e -q \
                -X check.crcs=true -J > "$WORK/kcat/$t.$p.jsonl" 2> "$WORK/kcat.$t.$p.err"; then
            echo "kcat -C $t partition $p failed: $(tail -n 5 "$WORK/kcat.$t.$p.err")"
            READ_FAIL=1
        fi
    done
done
log "checking"
python3 "$HERE/checker.py" --expected "$WORK/wl/expected.json" --kcat-dir "$WORK/kcat" \
    --seen-dir "$WORK/seen" --partitions "$PARTITIONS" --gtid-domains "$DOMAINS" \
    --db-host 127.0.0.1 --db-port "$DBPORT" 2>&1 | tee "$WORK/checker.txt"
CHECK_RC=${PIPESTATUS[0]}

log "SIGTERM to rowlogd"
kill -TERM "$RLD_PID"
wait_exit "$RLD_PID" 60 || die "rowlogd did not exit within 60 s of SIGTERM"
[ "$EXIT_RC" -eq 0 ] || die "rowlogd exited with status $EXIT_RC after SIGTERM (want 0)"
RLD_PID=""

if grep -l -E "runtime error:|AddressSanitizer|LeakSanitizer" "$WORK"/rowlogd.*.log \
        > "$WORK/sanitizer.txt" 2> /dev/null; then
    grep -h -m5 -E "runtime error:|AddressSanitizer|LeakSanitizer" $(cat "$WORK/sanitizer.txt")
    die "sanitizer reports in: $(tr '\n' ' ' < "$WORK/sanitizer.txt")"
fi
[ "$READ_FAIL" -eq 0 ] || die "a reader failed (see above)"
[ "$CAUGHT_UP" -eq 1 ] || die "the log did not catch up with the workload"
[ "$CHECK_RC" -eq 0 ] || die "checker found differences (seed $SEED)"
STATUS=0
log "PASS (seed $SEED, $TXNS transactions, $TOTAL records, $KILLS SIGKILLs, $RLD_RUN rowlogd runs)"
