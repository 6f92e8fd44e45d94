#!/usr/bin/env bash
# MySQL over the wire: rowlogd captures real MySQL 8 / 9 binlogs with GTIDs (one with
# TRANSACTION_PAYLOAD compression, one with a tagged GTID) from a fake MySQL primary
# (fake_mysql_primary.py) that answers COM_BINLOG_DUMP and COM_BINLOG_DUMP_GTID. rowlogd is
# SIGKILLed twice (once between transactions, once in the middle of one), stopped cleanly
# once, and restarted each time, and the primary drops its connection once; every restart
# and the reconnect resume by GTID set. At the end the log holds
# exactly the changes `rowlog binlog dump` gives for the same files, in the same order per
# topic, compared value by value. Only the envelope's top-level ts_ms (the time of decoding)
# differs by construction and is ignored.
# Usage: mysql_wire_test.sh ROWLOGD ROWLOG FIXTURES_DIR
set -euo pipefail
ROWLOGD=$1 ROWLOG=$2 FIX=${3:-}
HERE=$(cd "$(dirname "$0")" && pwd)
[ -n "$FIX" ] && [ -d "$FIX" ] || { echo "SKIP: no fixtures at '$FIX'"; exit 77; }
FILES=(maxwell__binlog.000004                           # 8.0.29, 21 GTID transactions
       rust_mysql_common__mysql-enum-string-set.000001  # 8.0.28, FULL metadata
       rust_mysql_common__mysql_type_bit.000001
       rust_mysql_common__binlog-invisible-columns.000001
       mysql-binlog-connector-rust__mysql-bin.000057    # 8.0.31, zstd TRANSACTION_PAYLOADs
       rust_mysql_common__binlog_transaction_with_GTID_TAG.000001) # 9.6.0, GTID_TAGGED
PATHS=()
for f in "${FILES[@]}"; do
    [ -f "$FIX/$f" ] || { echo "SKIP: fixture $f missing"; exit 77; }
    PATHS+=("$FIX/$f")
done

D=$(mktemp -d /tmp/rowlog-mysqlwire.XXXXXX)
RPID="" FPID=""
cleanup() {
    local rc=$?
    [ -n "$RPID" ] && kill -KILL "$RPID" 2>/dev/null && wait "$RPID" 2>/dev/null || true
    [ -n "$FPID" ] && kill -TERM "$FPID" 2>/dev/null && wait "$FPID" 2>/dev/null || true
    rm -rf "$D"
    exit "$rc"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    echo "---- rowlogd log ----"; tail -n 30 "$D/rowlogd.log" 2>/dev/null || true
    echo "---- fake primary ----"; tail -n 20 "$D/fake.log" 2>/dev/null || true
    exit 1
}
. "$(dirname "$0")/lib.sh"
K=$(free_port)

# The oracle: the same files decoded locally.
"$ROWLOG" binlog dump "${PATHS[@]}" > "$D/expected.jsonl" || fail "rowlog binlog dump failed"
nexp=$(wc -l < "$D/expected.jsonl")
[ "$nexp" -gt 0 ] || fail "no changes in the fixtures"

echo "limit 10" > "$D/ctl"
python3 "$HERE/fake_mysql_primary.py" --port-file "$D/port" --status "$D/status" \
    --control "$D/ctl" --user repl "${PATHS[@]}" > "$D/fake.log" 2>&1 &
FPID=$!
for _ in $(seq 100); do [ -s "$D/port" ] && break; sleep 0.1; done
[ -s "$D/port" ] || fail "the fake primary did not start"
P=$(cat "$D/port")
ntxn=$(sed -n 's/.* \([0-9]*\) transactions$/\1/p' "$D/fake.log")

start_rowlogd() {
    "$ROWLOGD" --source "mysql://repl:secret@127.0.0.1:$P" --data-dir "$D/log" \
        --listen "127.0.0.1:$K" --http off --snapshot never --heartbeat-ms 300 \
        --schema-history off \
        >> "$D/rowlogd.log" 2>&1 &
    RPID=$!
}
wait_status() { # wait until the fake's status file says $1
    for _ in $(seq 300); do [ "$(cat "$D/status" 2>/dev/null)" = "$1" ] && return 0; sleep 0.1; done
    fail "the fake primary never reached '$1' (status: $(cat "$D/status" 2>/dev/null))"
}

# A wrong user name is refused with the server's error, before any dump.
B=$(free_port)
: > "$D/bad.log"
"$ROWLOGD" --source "mysql://nobody:x@127.0.0.1:$P" --data-dir "$D/badlog" \
    --listen "127.0.0.1:$B" --http off --snapshot never > "$D/bad.log" 2>&1 &
BPID=$!
for _ in $(seq 100); do grep -q "Access denied" "$D/bad.log" && break; sleep 0.1; done
kill -KILL "$BPID" 2>/dev/null || true; wait "$BPID" 2>/dev/null || true
grep -q "Access denied" "$D/bad.log" || fail "a wrong user was not refused: $(head -c 400 "$D/bad.log")"
[ "$(cat "$D/status" 2>/dev/null)" = "" ] || fail "the fake served a dump to a refused user"

# 1. First run: transactions 0-9, then SIGKILL between transactions.
start_rowlogd
wait_status "blocked 10"
sleep 1
kill -KILL "$RPID"; wait "$RPID" 2>/dev/null || true; RPID=""

# 2. Second run, resumed by GTID set: up to transaction 20, of which the first 4 events are
#    sent (GTID, BEGIN, TABLE_MAP and its UPDATE_ROWS: maxwell's last transaction), then
#    SIGKILL in the middle of that transaction, before its XID.
printf 'limit 20\npartial 4\n' > "$D/ctl"
start_rowlogd
wait_status "blocked 20"
sleep 1
kill -KILL "$RPID"; wait "$RPID" 2>/dev/null || true; RPID=""

# 3. Third run: up to transaction 30, then a clean stop (SIGTERM).
echo "limit 30" > "$D/ctl"
start_rowlogd
wait_status "blocked 30"
sleep 1
kill -TERM "$RPID"; wait "$RPID" || fail "rowlogd exit status $? after SIGTERM"; RPID=""

# 4. Last run: the fake drops the dump connection while rowlogd waits at transaction 30
#    (dump 4: runs 1-3 made dumps 1-3); rowlogd reconnects by GTID set on its own and
#    receives the rest.
start_rowlogd
wait_status "blocked 30"
printf 'close 4\n' > "$D/ctl"
wait_status "done"
for _ in $(seq 100); do
    got=$("$ROWLOG" tail --bootstrap "127.0.0.1:$K" 'rowlog.*' 2>/dev/null | wc -l)
    [ "$got" -ge "$nexp" ] && break; sleep 0.2
done
"$ROWLOG" tail --bootstrap "127.0.0.1:$K" 'rowlog.*' > "$D/log.jsonl" || fail "rowlog tail failed"
kill -TERM "$RPID"; wait "$RPID" || fail "rowlogd exit status $?"; RPID=""

# Every restart after the first resumed by GTID set (COM_BINLOG_DUMP_GTID).
n=$(grep -c "(MySQL) at GTID" "$D/rowlogd.log" || true)
[ "$n" -eq 4 ] || fail "expected 4 GTID resumes (3 restarts, 1 reconnect), saw $n"
grep -q "(MySQL) at ${FILES[0]}:4" "$D/rowlogd.log" || fail "the first run did not start at the first file"

python3 - "$D/expected.jsonl" "$D/log.jsonl" "$ntxn" <<'PY' || fail "the log differs from rowlog binlog dump"
import collections, json, sys
exp_path, got_path, ntxn = sys.argv[1], sys.argv[2], sys.argv[3]
def per_topic(path):
    out = collections.defaultdict(list)
    for line in open(path):
        r = json.loads(line)
        v = r["value"]
        del v["ts_ms"]  # decode time: differs by construction
        out[r["topic"]].append((r["key"], v))
    return out
exp, got = per_topic(exp_path), per_topic(got_path)
assert sorted(exp) == sorted(got), f"topics differ: {sorted(exp)} vs {sorted(got)}"
total = 0
for t in exp:
    e, g = exp[t], got[t]
    for i, (a, b) in enumerate(zip(e, g)):
        if a != b:
            raise SystemExit(f"{t} record {i} differs:\n  dump: {a}\n  log:  {b}")
    assert len(e) == len(g), f"{t}: {len(e)} changes in the dump, {len(g)} in the log"
    total += len(e)
gtids = {v["source"]["gtid"] for recs in got.values() for _, v in recs}
assert any(g.count(":") == 2 for g in gtids), "no tagged GTID reached the log"
print(f"{total} changes over {len(exp)} topics and {ntxn} transactions, exactly as dumped")
PY
kill -TERM "$FPID"; wait "$FPID" 2>/dev/null || true; FPID=""

# 5. A fresh start at the primary's current position seeds the state with @@gtid_executed
#    (written the way MySQL prints it: upper case, a newline after the comma), and the
#    restart resumes from that set plus the file's GTIDs (mysql_type_bit: fbda2ad0...:1-3).
rm -f "$D/port" "$D/status"
python3 "$HERE/fake_mysql_primary.py" --port-file "$D/port" --status "$D/status" \
    --gtid-executed $'83759871-1141-11ED-B12D-0242AC130003:1-3,\n00000000-0000-0000-0000-000000000001:5' \
    "$FIX/rust_mysql_common__mysql_type_bit.000001" > "$D/fake.log" 2>&1 &
FPID=$!
for _ in $(seq 100); do [ -s "$D/port" ] && break; sleep 0.1; done
P=$(cat "$D/port")
rm -rf "$D/log"
: > "$D/rowlogd.log"
start_rowlogd
wait_status "done"
sleep 1
kill -TERM "$RPID"; wait "$RPID" || fail "rowlogd exit status $?"; RPID=""
start_rowlogd
for _ in $(seq 100); do grep -q "at GTID" "$D/rowlogd.log" && break; sleep 0.1; done
kill -TERM "$RPID"; wait "$RPID" || fail "rowlogd exit status $?"; RPID=""
want="00000000-0000-0000-0000-000000000001:5,83759871-1141-11ed-b12d-0242ac130003:1-3,fbda2ad0-7c46-11ec-ae30-4ef7efc81a2a:1-3"
grep -q "(MySQL) at GTID $want\$" "$D/rowlogd.log" ||
    fail "resume set: $(grep 'streaming from' "$D/rowlogd.log" | tail -1)"
kill -TERM "$FPID"; wait "$FPID" 2>/dev/null || true; FPID=""

# 6. The same checkpoint against a primary that says it is MariaDB: refused, not guessed.
rm -f "$D/port"
python3 "$HERE/fake_mysql_primary.py" --port-file "$D/port" --version "10.11.6-MariaDB-log" \
    "$FIX/rust_mysql_common__mysql_type_bit.000001" > "$D/fake.log" 2>&1 &
FPID=$!
for _ in $(seq 100); do [ -s "$D/port" ] && break; sleep 0.1; done
P=$(cat "$D/port")
start_rowlogd
for _ in $(seq 100); do grep -q "another kind of primary" "$D/rowlogd.log" && break; sleep 0.1; done
grep -q "another kind of primary" "$D/rowlogd.log" || fail "a MySQL checkpoint was not refused by a MariaDB primary"
kill -KILL "$RPID" 2>/dev/null || true; wait "$RPID" 2>/dev/null || true; RPID=""
echo "PASS: MySQL wire protocol, 2 SIGKILLs and a stop, exactly once; @@gtid_executed seed; flavor check"
