#!/usr/bin/env bash
# Staying connected: rowlogd keeps capturing while its primary restarts and while the server
# KILLs its replication connection, resuming each time from its last checkpoint.
# Asserts that every committed change is in the log exactly once (no loss, no duplicate)
# and that rowlogd logged its reconnects. Usage: reconnect_test.sh ROWLOGD ROWLOG SCRIPTS_DIR
set -euo pipefail
ROWLOGD=$1 ROWLOG=$2 SCRIPTS=$3
command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || { echo "SKIP: no mariadbd"; exit 77; }
D=$(mktemp -d /tmp/rowlog-reconnect.XXXXXX)
RPID=""
cleanup() {
    [ -n "$RPID" ] && kill -TERM "$RPID" 2>/dev/null && wait "$RPID" 2>/dev/null
    "$SCRIPTS/mariadb-sandbox.sh" stop "$D" >/dev/null 2>&1 || true
    rm -rf "$D"
}
trap cleanup EXIT
. "$(dirname "$0")/lib.sh"
P=$(free_port); K=$(free_port)
sql() { "$SCRIPTS/mariadb-sandbox.sh" sql "$D" "$@"; }
fail() { echo "FAIL: $*"; echo "---- rowlogd log ----"; tail -n 40 "$D/rowlogd.log"; exit 1; }

"$SCRIPTS/mariadb-sandbox.sh" start "$D" "$P" >/dev/null
sql -e "CREATE DATABASE itest; CREATE TABLE itest.r (id INT PRIMARY KEY, v INT NOT NULL)"
"$ROWLOGD" --source "mysql://rowlog:rowlogpw@127.0.0.1:$P" --data-dir "$D/log" \
    --listen "127.0.0.1:$K" --heartbeat-ms 500 --http off > "$D/rowlogd.log" 2>&1 &
RPID=$!
for _ in $(seq 100); do grep -q "streaming from" "$D/rowlogd.log" && break; sleep 0.1; done
grep -q "streaming from" "$D/rowlogd.log" || fail "rowlogd did not start streaming"

# 1. Changes, then a primary restart while rowlogd runs, then more changes.
sql itest -e "INSERT INTO r SELECT seq, 0 FROM seq_1_to_500"
"$SCRIPTS/mariadb-sandbox.sh" stop "$D" >/dev/null
"$SCRIPTS/mariadb-sandbox.sh" start "$D" "$P" >/dev/null
sql itest -e "INSERT INTO r SELECT seq, 0 FROM seq_501_to_1000"
for i in $(seq 1 50); do echo "UPDATE r SET v = v + 1 WHERE id = $i;"; done | sql itest
# 2. The server kills the dump thread; more changes follow at once.
for _ in $(seq 100); do
    ids=$(sql -N -e "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'")
    [ -n "$ids" ] && break; sleep 0.1
done
[ -n "$ids" ] || fail "rowlogd did not reconnect after the primary restart"
for id in $ids; do sql -e "KILL $id"; done
sql itest -e "DELETE FROM r WHERE id > 900"
for i in $(seq 51 100); do echo "UPDATE r SET v = v + 1 WHERE id = $i;"; done | sql itest

expected=$((1000 + 50 + 100 + 50))
for _ in $(seq 300); do
    got=$("$ROWLOG" topics --bootstrap "127.0.0.1:$K" 2>/dev/null | awk -F'\t' '$1=="rowlog.itest.r"{s+=$4} END{print s+0}')
    [ "$got" -ge "$expected" ] && break; sleep 0.1
done
"$ROWLOG" tail --bootstrap "127.0.0.1:$K" --from beginning rowlog.itest.r > "$D/records.jsonl" ||
    fail "rowlog tail failed"
python3 - "$D/records.jsonl" "$expected" <<'PY' || fail "records differ"
import collections, json, sys
path, expected = sys.argv[1], int(sys.argv[2])
seen = collections.Counter()
final = {}
for line in open(path):
    r = json.loads(line)
    v = r["value"]
    after = v["after"]
    seen[(r["key"]["id"], v["op"], after["v"] if after else None)] += 1
    final[r["key"]["id"]] = after
dups = [k for k, n in seen.items() if n > 1]
assert not dups, f"duplicates: {dups[:5]}"
total = sum(seen.values())
assert total == expected, f"{total} records, expected {expected}"
want = {i: {"id": i, "v": 1 if i <= 100 else 0} for i in range(1, 901)}
got = {k: a for k, a in final.items() if a is not None}
assert got == want, "final state differs from the table"
print(f"{total} records, exactly once")
PY
[ "$(sql -N -e 'SELECT COUNT(*), SUM(v) FROM itest.r')" = "$(printf '900\t100')" ] || fail "table state"
n=$(grep -c "reconnecting from the last checkpoint" "$D/rowlogd.log" || true)
[ "$n" -ge 2 ] || fail "expected reconnects in the log, saw $n"
kill -TERM "$RPID"; wait "$RPID" || fail "rowlogd exit status $?"
RPID=""
echo "PASS: $n reconnects, no loss, no duplicate"
