#!/usr/bin/env bash
# failover_test.sh ROWLOGD ROWLOG SCRIPTS_DIR - rowlogd follows a GTID through a failover.
#
#  1. a sandbox primary (server_id 1) and a real MariaDB replica of it (mariadb-sandbox.sh
#     replica: server_id 2, GTID replication with MASTER_USE_GTID=slave_pos, log_slave_updates,
#     ROW binlog, same gtid_domain_id 0, read_only until promoted)
#  2. rowlogd --partitions 3 captures from the primary while the first batches of the gen-txns
#     workload commit there; it is SIGKILLed before the last of them, so when the primary goes
#     away rowlogd is behind and must fetch part of the primary's transactions from the replica
#  3. the replica catches up (MASTER_GTID_WAIT), the primary is stopped, rowlogd is started on
#     the same data dir with --source pointing at the replica: its checkpoint holds the old
#     primary's file:pos AND the GTID state, and the GTID state must win
#  4. the replica is promoted (STOP SLAVE, RESET SLAVE ALL, read_only=OFF); the rest of the
#     workload commits there (GTIDs 0-2-N continue the sequence)
#  5. checker.py: every committed change exactly once, per-key order by GTID, final state equal
#     to SELECT on the new primary, the workload agrees with the new primary's binlog; records
#     come from both servers (source.server_id 1 and 2)
#
# Environment: ITEST_SEED (default random; printed), ITEST_BATCHES (8), ITEST_TXNS_PER_BATCH
# (1500), ITEST_DEADLINE (s, 540: then the test stops and cleans up), ITEST_KEEP=1 keeps the
# work dir.
# Exit status: 0 pass, 1 fail, 77 skip (MariaDB tools or kcat not installed).
set -uo pipefail

ROWLOGD=${1:?usage: failover_test.sh ROWLOGD ROWLOG SCRIPTS_DIR}
ROWLOG=${2:?usage: failover_test.sh ROWLOGD ROWLOG SCRIPTS_DIR}
SCRIPTS=${3:?usage: failover_test.sh ROWLOGD ROWLOG SCRIPTS_DIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SANDBOX="$SCRIPTS/mariadb-sandbox.sh"
PARTITIONS=3
BATCHES=${ITEST_BATCHES:-8}
PER_BATCH=${ITEST_TXNS_PER_BATCH:-1500}
ON_PRIMARY=$((BATCHES / 2))     # batches 0..ON_PRIMARY-1 commit on the first primary

. "$(dirname "$0")/lib.sh"

rl_require_tools mariadbd mariadb mariadb-admin mariadb-install-db mariadb-binlog kcat python3 \
    setsid timeout
rl_require_bins "$ROWLOGD" "$ROWLOG"

WORK=$(mktemp -d /tmp/rl-failover.XXXXXX)
RLD_PID=""
RLD_RUN=0
STATUS=1
log() { echo "[failover $(date +%H:%M:%S)] $*"; }

cleanup() {
    [ -n "${WATCHDOG_PID:-}" ] && kill -TERM "$WATCHDOG_PID" 2> /dev/null
    rl_stop "$RLD_PID" 30
    "$SANDBOX" stop "$WORK/primary" > /dev/null 2>&1
    "$SANDBOX" stop "$WORK/replica" > /dev/null 2>&1
    if [ "$STATUS" -ne 0 ]; then
        rl_show_logs 20 "$WORK"/rowlogd.*.log
        echo "---- replica error.log ----"
        tail -n 15 "$WORK/replica/error.log" 2> /dev/null
    fi
    if [ "${ITEST_KEEP:-0}" = 1 ]; then
        echo "[failover] work directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
# Our own deadline, below ctest's TIMEOUT: ctest kills only this shell, which would leave the
# servers it started running; a SIGTERM to ourselves runs the cleanup instead.
rl_watchdog failover "${ITEST_DEADLINE:-540}"
trap 'echo "[failover] interrupted"; exit 130' INT TERM
die() { echo "FAIL: $*"; exit 1; }

read -r P1 P2 KPORT < <(free_ports 3)
BOOT="127.0.0.1:$KPORT"

SEED=${ITEST_SEED:-$(python3 -c 'import random; print(random.randrange(1, 2**31))')}
log "seed $SEED (reproduce with ITEST_SEED=$SEED); work dir $WORK"
python3 "$HERE/workload.py" gen-txns --seed "$SEED" --out "$WORK/wl" --batches "$BATCHES" \
    --txns-per-batch "$PER_BATCH" || die "workload generation"
TOTAL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["total"])' \
    "$WORK/wl/expected.json")
mapfile -t TOPICS < <(python3 -c '
import json, sys
for t in json.load(open(sys.argv[1]))["tables"].values():
    print(t["topic"])' "$WORK/wl/expected.json")

# 1. primary and replica. Neither server is crashed, so their commits need not each reach
# the disk.
export SANDBOX_MARIADBD_ARGS="--innodb-flush-log-at-trx-commit=2"
log "primary on 127.0.0.1:$P1, replica on 127.0.0.1:$P2"
"$SANDBOX" start "$WORK/primary" "$P1" > /dev/null || die "primary start"
"$SANDBOX" sql "$WORK/primary" < "$WORK/wl/schema.sql" || die "schema"
"$SANDBOX" replica "$WORK/replica" "$P2" "$P1" || die "replica setup"
[ "$("$SANDBOX" sql "$WORK/replica" -N -B -e \
    'SELECT CONCAT_WS(",", @@server_id, @@log_slave_updates, @@binlog_format, @@gtid_domain_id, @@read_only)')" \
    = "2,ON,ROW,0,ON" ] || die "replica settings (server_id, log_slave_updates, ROW, domain, read_only)"

start_rowlogd() {  # PORT of the source
    RLD_RUN=$((RLD_RUN + 1))
    LOGF="$WORK/rowlogd.$RLD_RUN.log"
    # --http off: the metrics endpoint is not under test here, and its fixed default port
    # would collide between tests running in parallel.
    "$ROWLOGD" --source "mysql://rowlog:rowlogpw@127.0.0.1:$1" --data-dir "$WORK/rowlog-data" \
        --listen "$BOOT" --partitions "$PARTITIONS" --server-id 4245 --http off --heartbeat-ms 500 \
        > "$LOGF" 2>&1 &
    RLD_PID=$!
    local deadline=$((SECONDS + 60))
    until grep -q "streaming from" "$LOGF"; do
        alive "$RLD_PID" || { wait_exit "$RLD_PID" 1; die "rowlogd exited ($EXIT_RC): $(tail -n 3 "$LOGF")"; }
        [ $SECONDS -lt $deadline ] || die "rowlogd not streaming after 60 s"
        sleep 0.1
    done
    log "rowlogd run $RLD_RUN: $(grep -m1 -o 'streaming from.*' "$LOGF")"
}
run_batch() {  # PORT index
    local f
    f=$(printf '%s/wl/batch_%03d.sql' "$WORK" "$2")
    mariadb --no-defaults --default-character-set=utf8mb4 -h127.0.0.1 -P"$1" -uapp -papppw \
        itest < "$f" > "$WORK/batch.out" 2>&1 || die "batch $2 on port $1: $(tail -c 600 "$WORK/batch.out")"
}
log_end() {
    timeout 30 "$ROWLOG" topics --bootstrap "$BOOT" 2> /dev/null |
        awk -F'\t' 'index($1, "rowlog.itest.") == 1 { s += $4 } END { print s + 0 }'
}

# 2. capture from the primary; rowlogd is killed before the primary's last batch
start_rowlogd "$P1"
for ((i = 0; i < ON_PRIMARY; i++)); do
    if [ "$i" -eq $((ON_PRIMARY - 1)) ]; then
        kill -KILL "$RLD_PID"; wait_exit "$RLD_PID" 30; RLD_PID=""
        log "rowlogd killed (SIGKILL) before batch $i: it will not read that batch from the primary"
    fi
    run_batch "$P1" "$i"
done
P1_POS=$("$SANDBOX" sql "$WORK/primary" -N -B -e "SELECT @@global.gtid_binlog_pos")
log "batches 0..$((ON_PRIMARY - 1)) committed on the primary (gtid_binlog_pos $P1_POS)"

# 3. failover: the replica has everything, the primary goes away, rowlogd moves
"$SANDBOX" sync "$WORK/replica" "$P1" 60 || die "the replica did not catch up"
"$SANDBOX" stop "$WORK/primary" > /dev/null || die "primary stop"
log "primary stopped"
python3 - "$WORK/rowlog-data" <<'PY' > "$WORK/checkpoint.txt" || true
import os, sys
# The checkpoint's source position, for the log (its layout is rowlogd's business).
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        if "checkpoint" in f:
            data = open(os.path.join(root, f), "rb").read()
            i = data.find(b"file=")
            if i >= 0:
                print(data[i:i + 200].split(b"\0")[0].decode("ascii", "replace").replace("\n", " "))
PY
log "checkpoint before the move: $(head -c 300 "$WORK/checkpoint.txt")"
start_rowlogd "$P2"
grep -q "streaming from 127.0.0.1:$P2 .* at GTID " "$LOGF" ||
    die "rowlogd did not resume from the replica by GTID: $(grep -m1 'streaming from' "$LOGF")" \
        "(the checkpoint's file:pos names the old primary's binlog; its GTID state must win)"

# 4. promote the replica; the workload continues there
"$SANDBOX" promote "$WORK/replica" || die "promote"
for ((i = ON_PRIMARY; i < BATCHES; i++)); do run_batch "$P2" "$i"; done
log "batches $ON_PRIMARY..$((BATCHES - 1)) committed on the promoted replica" \
    "(gtid_binlog_pos $("$SANDBOX" sql "$WORK/replica" -N -B -e 'SELECT @@global.gtid_binlog_pos'))"

# 5. catch up and check
deadline=$((SECONDS + 120))
have=0
while [ $SECONDS -lt $deadline ]; do
    have=$(log_end)
    [ "$have" -ge "$TOTAL" ] && break
    alive "$RLD_PID" || { wait_exit "$RLD_PID" 1; die "rowlogd died ($EXIT_RC)"; }
    sleep 0.5
done
log "the log holds $have records, $TOTAL committed"
mkdir -p "$WORK/kcat"
for t in "${TOPICS[@]}"; do
    for ((p = 0; p < PARTITIONS; p++)); do
        timeout 120 kcat -C -b "$BOOT" -t "$t" -p "$p" -o beginning -e -q -X check.crcs=true \
            -J > "$WORK/kcat/$t.$p.jsonl" 2> "$WORK/kcat.err" ||
            die "kcat $t $p: $(tail -n 3 "$WORK/kcat.err")"
    done
done
python3 "$HERE/checker.py" --expected "$WORK/wl/expected.json" --kcat-dir "$WORK/kcat" \
    --partitions "$PARTITIONS" --server-ids 1,2 --no-coord-order \
    --db-host 127.0.0.1 --db-port "$P2" --binlog-dir "$WORK/replica/data" 2>&1 |
    tee "$WORK/checker.txt"
CHECK_RC=${PIPESTATUS[0]}
SERVERS=$(cat "$WORK"/kcat/*.jsonl | python3 -c '
import collections, json, sys
n = collections.Counter()
for line in sys.stdin:
    n[json.loads(json.loads(line)["payload"])["source"]["server_id"]] += 1
print(" ".join("%d:%d" % kv for kv in sorted(n.items())))')
log "records per source.server_id: $SERVERS"

kill -TERM "$RLD_PID"
wait_exit "$RLD_PID" 60 || die "rowlogd did not exit within 60 s of SIGTERM"
[ "$EXIT_RC" -eq 0 ] || die "rowlogd exited with status $EXIT_RC after SIGTERM"
RLD_PID=""
[ "$CHECK_RC" -eq 0 ] || die "checker found differences (seed $SEED)"
case " $SERVERS" in *" 1:"*" 2:"*) ;; *) die "expected records from both servers, got $SERVERS" ;; esac
# Sanitizer builds (-DRL_SANITIZE=ON): UBSan reports do not change the exit status.
if grep -h -m5 -E "runtime error:|AddressSanitizer|LeakSanitizer" "$WORK"/rowlogd.*.log; then
    die "sanitizer reports in rowlogd's log"
fi
STATUS=0
log "PASS (seed $SEED, $TOTAL records across a failover)"
